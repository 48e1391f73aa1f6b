#!/bin/sh
# azd preprovision hook: tells infra/main.bicep whether this environment's online endpoint exists already
# (ENDPOINT_EXISTS). The endpoint is created on the first provision only; after that the template references it and
# never puts it again, so a provision (each push to main runs one) cannot replace the traffic the app set between
# its deployments. It looks for an online endpoint in the resource group tagged with this azd environment's name.
# Anything it cannot tell (no resource group yet, not signed in) counts as "does not exist": the template then
# creates the endpoint, as on a first provision. Needs the Azure CLI, signed in to the same subscription.
set -eu

exists=false
if [ -n "${AZURE_RESOURCE_GROUP:-}" ] && [ -n "${AZURE_ENV_NAME:-}" ]; then
  if [ -n "${AZURE_SUBSCRIPTION_ID:-}" ]; then
    az account set --subscription "$AZURE_SUBSCRIPTION_ID" 2>/dev/null || true
  fi
  found=$(az resource list --resource-group "$AZURE_RESOURCE_GROUP" \
    --resource-type Microsoft.MachineLearningServices/workspaces/onlineEndpoints \
    --query "length([?tags.\"azd-env-name\"=='$AZURE_ENV_NAME'])" --output tsv 2>/dev/null || echo 0)
  case "$found" in
    '' | *[!0-9]*) found=0 ;;
  esac
  if [ "$found" -gt 0 ]; then
    exists=true
  fi
fi
azd env set ENDPOINT_EXISTS "$exists"
echo "preprovision: ENDPOINT_EXISTS=$exists (online endpoints of environment ${AZURE_ENV_NAME:-?} found: ${found:-0})"
