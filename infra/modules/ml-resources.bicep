// What the loop needs in the Azure ML workspace (new or existing): the CPU cluster for training and drift, the
// online endpoint without a deployment (the app creates and retires deployments), the diagnostic setting that
// sends the endpoint's logs to the Log Analytics workspace the export reads, and the identities' workspace roles.

import { roleIds } from 'roles.bicep'

param location string
param tags object
param workspaceName string
param computeName string
param computeVmSize string
param computeMaxNodes int
param computeIdentityId string
param computeClientId string
param computePrincipalId string
param endpointName string
param logAnalyticsId string
param appPrincipalId string
@description('An Azure ML registry in this resource group that the app shares models into; empty: none.')
param registryName string
@description('The endpoint exists (the preprovision hook looks): it is referenced, not put again, so a provision never touches the traffic the app set.')
param endpointExists bool = false

resource workspace 'Microsoft.MachineLearningServices/workspaces@2024-04-01' existing = {
  name: workspaceName
}

resource cluster 'Microsoft.MachineLearningServices/workspaces/computes@2024-04-01' = {
  parent: workspace
  name: computeName
  location: location
  tags: tags
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${computeIdentityId}': {}
    }
  }
  properties: {
    computeType: 'AmlCompute'
    description: 'Training and drift pipelines (identity ${computeClientId})'
    disableLocalAuth: true
    properties: {
      vmSize: computeVmSize
      vmPriority: 'Dedicated'
      osType: 'Linux'
      // Scales to 0 when no job runs: nothing is billed at rest.
      scaleSettings: {
        minNodeCount: 0
        maxNodeCount: computeMaxNodes
        nodeIdleTimeBeforeScaleDown: 'PT120S'
      }
      remoteLoginPortPublicAccess: 'Disabled'
    }
  }
}

// Created on the first provision only. The app owns its traffic and deployments from then on; putting the endpoint
// again on every `azd provision` (each push to main deploys) would send a body without the traffic the app set.
resource newEndpoint 'Microsoft.MachineLearningServices/workspaces/onlineEndpoints@2024-04-01' = if (!endpointExists) {
  parent: workspace
  name: endpointName
  location: location
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    authMode: 'Key'
    publicNetworkAccess: 'Enabled'
    description: 'Served by the deployments that the function app rolls out (reconcile_rollouts).'
  }
}

resource endpoint 'Microsoft.MachineLearningServices/workspaces/onlineEndpoints@2024-04-01' existing = {
  parent: workspace
  name: endpointName
}

// Without this the export finds no data, forever, and reports no error: AmlOnlineEndpointConsoleLog is where
// score.py's MLOPS_INFERENCE_V1 lines land. Resource-specific tables ("Dedicated"), as the export's KQL expects.
resource endpointLogs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: endpoint
  dependsOn: [newEndpoint]
  properties: {
    workspaceId: logAnalyticsId
    logAnalyticsDestinationType: 'Dedicated'
    logs: [
      {
        category: 'AmlOnlineEndpointConsoleLog'
        enabled: true
      }
      {
        category: 'AmlOnlineEndpointTrafficLog'
        enabled: true
      }
      {
        category: 'AmlOnlineEndpointEventLog'
        enabled: true
      }
    ]
    metrics: [
      {
        category: 'AllMetrics'
        enabled: true
      }
    ]
  }
}

// The app submits the drift and training pipelines, reads models and creates, updates and deletes the
// endpoint's deployments and traffic (safe rollout), and publishes data asset versions.
resource appUsesWorkspace 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(workspace.id, appPrincipalId, roleIds.azureMLDataScientist)
  scope: workspace
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.azureMLDataScientist)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// The rollout's live-metric gates read the endpoint's request counts and latencies per deployment from
// Azure Monitor (shared/azure/endpoint_metrics.py).
resource appReadsEndpointMetrics 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(endpoint.id, appPrincipalId, roleIds.monitoringReader)
  scope: endpoint
  dependsOn: [newEndpoint]
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.monitoringReader)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// The training pipeline's register step registers the model with the compute's identity
// (ml_assets/src/stores/azure_registry.py).
resource computeRegistersModels 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(workspace.id, computePrincipalId, roleIds.azureMLDataScientist)
  scope: workspace
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.azureMLDataScientist)
    principalId: computePrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource registry 'Microsoft.MachineLearningServices/registries@2024-04-01' existing = if (!empty(registryName)) {
  name: registryName
}

// AML_REGISTRY_NAME: the rollout shares the model into the registry and deploys it from there.
resource appUsesRegistry 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(registryName)) {
  name: guid(resourceGroup().id, registryName, appPrincipalId, roleIds.azureMLRegistryUser)
  scope: registry
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.azureMLRegistryUser)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

output workspaceId string = workspace.id
output workspaceLocation string = workspace.location
output computeName string = cluster.name
output endpointName string = endpoint.name
