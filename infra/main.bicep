// One environment of the MLOps loop (one `azd env`): `azd provision` deploys this into the environment's resource
// group. What needs the deployed functions (the Event Grid subscription, the action group with the function key,
// the alert rules) is infra/postdeploy.bicep, which the azd postdeploy hook deploys after `azd deploy`.
// Checked by a parser and tests (tests/unit/test_infra_*.py), never compiled or deployed where it was written:
// run `az bicep build --file infra/main.bicep` and `azd provision --preview` first.

targetScope = 'resourceGroup'

@minLength(1)
@maxLength(32)
@description('Name of the azd environment; part of every resource name.')
param environmentName string

@description('Region of every resource (Flex Consumption must be available there).')
param location string = resourceGroup().location

@description('Registered model that the loop trains, deploys and monitors (MODEL_NAME).')
param modelName string = 'credit-default'

@maxLength(32)
@description('Managed online endpoint created here, without a deployment (ENDPOINT_NAME); its name must be unique in the region. Empty: credit-default-<6 characters of this environment\'s token>.')
param endpointName string = ''

@description('VM size of the deployments the app creates (DEPLOYMENT_INSTANCE_TYPE).')
param instanceType string = 'Standard_DS3_v2'

@description('An existing Azure ML workspace in this resource group; empty: create one.')
param existingWorkspaceName string = ''

@description('An existing Azure ML registry in this resource group that models are shared into; empty: none.')
param registryName string = ''

@description('The environment that versions succeeding here are promoted to through the registry (its environmentName); empty: none.')
param promoteTo string = ''

@description('The environment whose promotion candidates for this one the reconcile timer rolls out; empty: none.')
param promotionSource string = ''

@description('Promotion candidates wait for an operator\'s approval before their rollout starts.')
param promotionApproval bool = false

@description('Whether the online endpoint exists already (set by the preprovision hook, infra/hooks/preprovision.sh).')
param endpointExists bool = false

@description('VM size of the training and drift cluster.')
param computeVmSize string = 'Standard_DS3_v2'

@minValue(1)
param computeMaxNodes int = 4

@description('Days before quarantined lines and retraining decision records are deleted.')
param retentionDays int = 90

@description('Days before dead-lettered events are deleted.')
param deadLetterRetentionDays int = 30

var tags = {
  'azd-env-name': environmentName
}
var token = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName))
var createWorkspace = empty(existingWorkspaceName)
var workspaceName = createWorkspace ? 'mlw-${token}' : existingWorkspaceName
var computeName = 'cpu-cluster'
var resolvedEndpointName = empty(endpointName) ? 'credit-default-${take(token, 6)}' : endpointName

// Blob containers and prefixes: created here and handed to the app as its settings, so both name the same ones.
var stateContainerName = 'mlops-state'
var exportContainerName = 'inference-data'
var labelsContainerName = 'labels'
var quarantinePrefix = 'quarantine'
var deadLetterContainerName = 'eventgrid-deadletter'
var deploymentContainerName = 'app-package'

// One definition of the alert rules: generated from ml_assets/src/contracts/alert_rules.py.
var alertRules = loadJsonContent('generated/alert-rules.json')
var retrainingRuleNames = map(filter(alertRules.rules, rule => rule.retrains), rule => rule.name)

module identities 'modules/identities.bicep' = {
  name: 'identities'
  params: {
    location: location
    tags: tags
    appIdentityName: 'id-app-${token}'
    computeIdentityName: 'id-compute-${token}'
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    location: location
    tags: tags
    logAnalyticsName: 'log-${token}'
    appInsightsName: 'appi-${token}'
    appPrincipalId: identities.outputs.appPrincipalId
    computePrincipalId: identities.outputs.computePrincipalId
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    location: location
    tags: tags
    hostAccountName: 'sthost${token}'
    dataAccountName: 'stdata${token}'
    deploymentContainerName: deploymentContainerName
    stateContainerName: stateContainerName
    exportContainerName: exportContainerName
    labelsContainerName: labelsContainerName
    quarantinePrefix: quarantinePrefix
    deadLetterContainerName: deadLetterContainerName
    retentionDays: retentionDays
    deadLetterRetentionDays: deadLetterRetentionDays
    appPrincipalId: identities.outputs.appPrincipalId
    computePrincipalId: identities.outputs.computePrincipalId
  }
}

module workspace 'modules/ml-workspace.bicep' = if (createWorkspace) {
  name: 'ml-workspace'
  params: {
    location: location
    tags: tags
    workspaceName: workspaceName
    storageAccountName: 'stmlw${token}'
    keyVaultName: 'kv-${token}'
    appInsightsId: monitoring.outputs.appInsightsId
  }
}

module ml 'modules/ml-resources.bicep' = {
  name: 'ml-resources'
  dependsOn: [workspace]
  params: {
    location: location
    tags: tags
    workspaceName: workspaceName
    computeName: computeName
    computeVmSize: computeVmSize
    computeMaxNodes: computeMaxNodes
    computeIdentityId: identities.outputs.computeIdentityId
    computeClientId: identities.outputs.computeClientId
    computePrincipalId: identities.outputs.computePrincipalId
    endpointName: resolvedEndpointName
    endpointExists: endpointExists
    logAnalyticsId: monitoring.outputs.logAnalyticsId
    appPrincipalId: identities.outputs.appPrincipalId
    registryName: registryName
  }
}

module events 'modules/events.bicep' = {
  name: 'events'
  params: {
    location: location
    tags: tags
    systemTopicName: 'evgt-${token}'
    workspaceId: ml.outputs.workspaceId
    dataAccountName: storage.outputs.dataAccountName
    deadLetterContainerName: deadLetterContainerName
  }
}

module functionApp 'modules/function-app.bicep' = {
  name: 'function-app'
  params: {
    location: location
    tags: tags
    planName: 'plan-${token}'
    appName: 'func-${environmentName}-${token}'
    appIdentityId: identities.outputs.appIdentityId
    deploymentContainerUrl: storage.outputs.deploymentContainerUrl
    maximumInstanceCount: 40
    instanceMemoryMB: 2048
    appSettings: {
      // The Functions host: its storage through the app's identity, no connection string.
      AzureWebJobsStorage__accountName: storage.outputs.hostAccountName
      AzureWebJobsStorage__credential: 'managedidentity'
      AzureWebJobsStorage__clientId: identities.outputs.appClientId
      // DefaultAzureCredential (every SDK client of the app) picks the user-assigned identity by this.
      AZURE_CLIENT_ID: identities.outputs.appClientId
      APPLICATIONINSIGHTS_CONNECTION_STRING: monitoring.outputs.appInsightsConnectionString
      APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identities.outputs.appClientId};Authorization=AAD'
      // The jobs' metrics go where the alert rules look, also when an existing workspace has an Application
      // Insights of its own.
      JOB_TELEMETRY_RESOURCE_ID: monitoring.outputs.appInsightsId
      // shared/settings.py (tests/unit/test_infra_app_settings.py keeps this list in step with it)
      MLOPS_MODE: 'azure'
      // The host resolves the timers' %NAME% schedules itself, from app settings only: no Python default applies.
      EXPORT_SCHEDULE: '0 */15 * * * *'
      DRIFT_SCHEDULE: '0 30 2 * * *'
      ROLLOUT_RECONCILE_SCHEDULE: '0 */1 * * * *'
      PERFORMANCE_SCHEDULE: '0 45 * * * *'
      AZURE_SUBSCRIPTION_ID: subscription().subscriptionId
      AZURE_RESOURCE_GROUP: resourceGroup().name
      AML_WORKSPACE_NAME: workspaceName
      // The gates read the endpoint's metrics at the Azure Monitor endpoint of the workspace's region.
      AML_WORKSPACE_REGION: ml.outputs.workspaceLocation
      MODEL_NAME: modelName
      ENDPOINT_NAME: ml.outputs.endpointName
      STORAGE_ACCOUNT_URL: storage.outputs.dataBlobEndpoint
      STATE_CONTAINER: stateContainerName
      EXPORT_CONTAINER: exportContainerName
      LABELS_CONTAINER: labelsContainerName
      PERFORMANCE_COMPUTE: ml.outputs.computeName
      EXPORT_QUARANTINE_PREFIX: quarantinePrefix
      LOG_ANALYTICS_WORKSPACE_ID: monitoring.outputs.logAnalyticsCustomerId
      DRIFT_COMPUTE: ml.outputs.computeName
      TRAINING_COMPUTE: ml.outputs.computeName
      DEPLOYMENT_INSTANCE_TYPE: instanceType
      RETRAIN_ALERT_RULES: join(retrainingRuleNames, ',')
      AML_REGISTRY_NAME: registryName
      // Promotion between environments (docs/promotion.md): through the same registry.
      ENVIRONMENT_NAME: environmentName
      PROMOTION_REGISTRY: registryName
      PROMOTE_TO: promoteTo
      PROMOTION_SOURCE: promotionSource
      PROMOTION_APPROVAL: string(promotionApproval)
    }
  }
}

// azd stores these in the environment; the postdeploy hook and the ml-assets workflow read them.
output AZURE_LOCATION string = location
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.appName
output AZURE_FUNCTION_APP_HOST string = functionApp.outputs.defaultHostName
output AZURE_ML_WORKSPACE_NAME string = workspaceName
output AZURE_ML_COMPUTE_NAME string = ml.outputs.computeName
output AZURE_ML_ENDPOINT_NAME string = ml.outputs.endpointName
output AZURE_EVENTGRID_SYSTEM_TOPIC_NAME string = events.outputs.systemTopicName
output AZURE_DATA_STORAGE_ACCOUNT_NAME string = storage.outputs.dataAccountName
output AZURE_DEAD_LETTER_CONTAINER_NAME string = deadLetterContainerName
output AZURE_APP_INSIGHTS_NAME string = monitoring.outputs.appInsightsName
output MODEL_NAME string = modelName
