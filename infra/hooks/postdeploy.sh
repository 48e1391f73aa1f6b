#!/bin/sh
# azd postdeploy hook: deploys infra/postdeploy.bicep, the wiring that needs the deployed functions (the Event Grid
# subscription to deploy_registered_model, the action group calling retrain_on_alert with its function key read by
# listKeys during the deployment, the optional email action group, the alert rules). azd runs it after `azd deploy`
# with the environment's values (the outputs of infra/main.bicep, and ALERT_EMAIL when set with `azd env set`) in
# the environment. Needs the Azure CLI, signed in (`az login`, or azure/login in a workflow) to the same
# subscription.
set -eu

require() {
  for name in "$@"; do
    eval "value=\${$name:-}"
    if [ -z "$value" ]; then
      echo "postdeploy: $name is not set (run azd provision first)" >&2
      exit 1
    fi
  done
}

require AZURE_ENV_NAME AZURE_RESOURCE_GROUP AZURE_FUNCTION_APP_NAME AZURE_EVENTGRID_SYSTEM_TOPIC_NAME \
  AZURE_APP_INSIGHTS_NAME AZURE_DATA_STORAGE_ACCOUNT_NAME AZURE_DEAD_LETTER_CONTAINER_NAME MODEL_NAME

if [ -n "${AZURE_SUBSCRIPTION_ID:-}" ]; then
  az account set --subscription "$AZURE_SUBSCRIPTION_ID"
fi

# The host indexes the functions a little after the deployment: listKeys and Event Grid's validation need them.
attempts=0
until az functionapp function show --resource-group "$AZURE_RESOURCE_GROUP" --name "$AZURE_FUNCTION_APP_NAME" \
  --function-name retrain_on_alert --output none 2>/dev/null &&
  az functionapp function show --resource-group "$AZURE_RESOURCE_GROUP" --name "$AZURE_FUNCTION_APP_NAME" \
    --function-name deploy_registered_model --output none 2>/dev/null; do
  attempts=$((attempts + 1))
  if [ "$attempts" -ge 30 ]; then
    echo "postdeploy: the functions of $AZURE_FUNCTION_APP_NAME were not indexed after 5 minutes" >&2
    exit 1
  fi
  sleep 10
done

script_dir=$(cd "$(dirname "$0")" && pwd)
az deployment group create \
  --resource-group "$AZURE_RESOURCE_GROUP" \
  --name "postdeploy-$AZURE_ENV_NAME" \
  --template-file "$script_dir/../postdeploy.bicep" \
  --parameters \
  environmentName="$AZURE_ENV_NAME" \
  functionAppName="$AZURE_FUNCTION_APP_NAME" \
  systemTopicName="$AZURE_EVENTGRID_SYSTEM_TOPIC_NAME" \
  appInsightsName="$AZURE_APP_INSIGHTS_NAME" \
  dataAccountName="$AZURE_DATA_STORAGE_ACCOUNT_NAME" \
  deadLetterContainerName="$AZURE_DEAD_LETTER_CONTAINER_NAME" \
  modelName="$MODEL_NAME" \
  alertEmail="${ALERT_EMAIL:-}" \
  --only-show-errors \
  --output none
echo "postdeploy: Event Grid subscription, action group and alert rules deployed to $AZURE_RESOURCE_GROUP"
