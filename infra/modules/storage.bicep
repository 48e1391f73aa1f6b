// Two storage accounts, both without shared keys (every client authenticates with Entra ID):
// - host: the Functions host's own storage (AzureWebJobsStorage) and the Flex Consumption deployment package;
// - data: the app's state, the exported inference data and Event Grid's dead letters, with lifecycle rules.

import { roleIds } from 'roles.bicep'

param location string
param tags object
param hostAccountName string
param dataAccountName string
param deploymentContainerName string
param stateContainerName string
param exportContainerName string
param quarantinePrefix string
param deadLetterContainerName string
param retentionDays int
param deadLetterRetentionDays int
param appPrincipalId string
param computePrincipalId string

var accountProperties = {
  allowSharedKeyAccess: false
  allowBlobPublicAccess: false
  defaultToOAuthAuthentication: true
  minimumTlsVersion: 'TLS1_2'
  supportsHttpsTrafficOnly: true
  publicNetworkAccess: 'Enabled'
}

resource hostAccount 'Microsoft.Storage/storageAccounts@2024-01-01' = {
  name: hostAccountName
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: accountProperties
}

resource hostBlobs 'Microsoft.Storage/storageAccounts/blobServices@2024-01-01' = {
  parent: hostAccount
  name: 'default'
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2024-01-01' = {
  parent: hostBlobs
  name: deploymentContainerName
}

resource dataAccount 'Microsoft.Storage/storageAccounts@2024-01-01' = {
  name: dataAccountName
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: accountProperties
}

resource dataBlobs 'Microsoft.Storage/storageAccounts/blobServices@2024-01-01' = {
  parent: dataAccount
  name: 'default'
}

resource stateContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2024-01-01' = {
  parent: dataBlobs
  name: stateContainerName
}

resource exportContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2024-01-01' = {
  parent: dataBlobs
  name: exportContainerName
}

resource deadLetterContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2024-01-01' = {
  parent: dataBlobs
  name: deadLetterContainerName
}

// What accumulates without bound and is only read when someone investigates: quarantined console-log lines, the
// retraining decision records (which keep rejected alert bodies whole), and dead-lettered events.
resource lifecycle 'Microsoft.Storage/storageAccounts/managementPolicies@2024-01-01' = {
  parent: dataAccount
  name: 'default'
  properties: {
    policy: {
      rules: [
        {
          name: 'quarantine'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: ['blockBlob']
              prefixMatch: ['${exportContainerName}/${quarantinePrefix}/']
            }
            actions: {
              baseBlob: {
                delete: {
                  daysAfterModificationGreaterThan: retentionDays
                }
              }
            }
          }
        }
        {
          name: 'retraining-decision-records'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: ['blockBlob']
              prefixMatch: ['${stateContainerName}/retraining/decisions/']
            }
            actions: {
              baseBlob: {
                delete: {
                  daysAfterModificationGreaterThan: retentionDays
                }
              }
            }
          }
        }
        {
          name: 'dead-lettered-events'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: ['blockBlob']
              prefixMatch: ['${deadLetterContainerName}/']
            }
            actions: {
              baseBlob: {
                delete: {
                  daysAfterModificationGreaterThan: deadLetterRetentionDays
                }
              }
            }
          }
        }
      ]
    }
  }
}

// The Functions host keeps its leases, timers' schedule status and keys in its storage, and reads the deployment
// package from it: Owner on this account only, which holds nothing else.
resource appOwnsHostStorage 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(hostAccount.id, appPrincipalId, roleIds.storageBlobDataOwner)
  scope: hostAccount
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.storageBlobDataOwner)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// The app's state store: conditional writes, leases and decision records (STATE_CONTAINER).
resource appWritesState 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(stateContainer.id, appPrincipalId, roleIds.storageBlobDataContributor)
  scope: stateContainer
  properties: {
    roleDefinitionId: subscriptionResourceId(
      'Microsoft.Authorization/roleDefinitions',
      roleIds.storageBlobDataContributor
    )
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// The export writes Parquet and quarantine records (EXPORT_CONTAINER); drift submission lists its partitions.
resource appWritesExport 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(exportContainer.id, appPrincipalId, roleIds.storageBlobDataContributor)
  scope: exportContainer
  properties: {
    roleDefinitionId: subscriptionResourceId(
      'Microsoft.Authorization/roleDefinitions',
      roleIds.storageBlobDataContributor
    )
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// The drift pipeline mounts the exported data read-only through its URL, with the compute cluster's identity.
resource computeReadsExport 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(exportContainer.id, computePrincipalId, roleIds.storageBlobDataReader)
  scope: exportContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.storageBlobDataReader)
    principalId: computePrincipalId
    principalType: 'ServicePrincipal'
  }
}

output hostAccountName string = hostAccount.name
output hostBlobEndpoint string = hostAccount.properties.primaryEndpoints.blob
output deploymentContainerUrl string = '${hostAccount.properties.primaryEndpoints.blob}${deploymentContainerName}'
output dataAccountId string = dataAccount.id
output dataAccountName string = dataAccount.name
output dataBlobEndpoint string = dataAccount.properties.primaryEndpoints.blob
