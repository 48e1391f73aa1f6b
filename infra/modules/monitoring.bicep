// Log Analytics (the endpoint's console log, which the export reads) and the workspace-based Application Insights
// (the app's telemetry, the drift jobs' traces and metrics, the alert rules' scope).

import { roleIds } from 'roles.bicep'

param location string
param tags object
param logAnalyticsName string
param appInsightsName string
param appPrincipalId string
param computePrincipalId string

resource logAnalytics 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: 30
    features: {
      // Nothing here uses the workspace keys: the export queries with Entra ID, the endpoint's logs arrive through
      // its diagnostic setting, Application Insights writes as a workspace-based resource.
      disableLocalAuth: true
    }
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: appInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logAnalytics.id
    // Ingestion only with Entra ID: the app's exporter uses its managed identity (shared/telemetry.py, from
    // APPLICATIONINSIGHTS_AUTHENTICATION_STRING) and the drift and performance jobs the compute's
    // (ml_assets/src/stores/workspace_app_insights.py); the connection string alone can send nothing.
    DisableLocalAuth: true
  }
}

// The app's identity queries AmlOnlineEndpointConsoleLog (the export) and nothing else here.
resource appReadsLogs 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(logAnalytics.id, appPrincipalId, roleIds.logAnalyticsReader)
  scope: logAnalytics
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.logAnalyticsReader)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// The app's own telemetry (APPLICATIONINSIGHTS_AUTHENTICATION_STRING: the host sends with Entra ID).
resource appPublishesTelemetry 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, appPrincipalId, roleIds.monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId(
      'Microsoft.Authorization/roleDefinitions',
      roleIds.monitoringMetricsPublisher
    )
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// The drift and performance jobs find this resource through their workspace and read its connection string
// (Microsoft.Insights/components/read), instead of receiving it as a pipeline input.
resource computeReadsAppInsights 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, computePrincipalId, roleIds.monitoringReader)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.monitoringReader)
    principalId: computePrincipalId
    principalType: 'ServicePrincipal'
  }
}

// The drift and performance jobs send their traces and custom metrics, which the alert rules read.
resource computePublishesTelemetry 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, computePrincipalId, roleIds.monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId(
      'Microsoft.Authorization/roleDefinitions',
      roleIds.monitoringMetricsPublisher
    )
    principalId: computePrincipalId
    principalType: 'ServicePrincipal'
  }
}

output logAnalyticsId string = logAnalytics.id
output logAnalyticsCustomerId string = logAnalytics.properties.customerId
output appInsightsId string = appInsights.id
output appInsightsName string = appInsights.name
output appInsightsConnectionString string = appInsights.properties.ConnectionString
