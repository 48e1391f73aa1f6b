// A new Azure ML workspace and what it requires: its own storage account and key vault, and the Application
// Insights created by monitoring.bicep. Deployed only when no existing workspace is given.

param location string
param tags object
param workspaceName string
param storageAccountName string
param keyVaultName string
param appInsightsId string

resource workspaceStorage 'Microsoft.Storage/storageAccounts@2024-01-01' = {
  name: storageAccountName
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    // Azure ML's default datastores (workspaceblobstore, workspacefilestore) authenticate with the account key
    // unless each is switched to identity-based access, so this account, which holds only the workspace's own
    // artifacts and no app data, keeps shared keys.
    allowSharedKeyAccess: true
    allowBlobPublicAccess: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
  }
}

resource keyVault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: keyVaultName
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
  }
}

resource workspace 'Microsoft.MachineLearningServices/workspaces@2024-04-01' = {
  name: workspaceName
  location: location
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  sku: {
    name: 'Basic'
    tier: 'Basic'
  }
  properties: {
    friendlyName: workspaceName
    storageAccount: workspaceStorage.id
    keyVault: keyVault.id
    applicationInsights: appInsightsId
    publicNetworkAccess: 'Enabled'
    v1LegacyMode: false
  }
}

output workspaceName string = workspace.name
