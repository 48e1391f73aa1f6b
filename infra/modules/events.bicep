// The workspace's Event Grid system topic. Its subscription to deploy_registered_model is created after
// `azd deploy` by infra/postdeploy.bicep: Event Grid validates an Azure Function destination, so the function
// must exist first.

import { roleIds } from 'roles.bicep'

param location string
param tags object
param systemTopicName string
param workspaceId string
param dataAccountName string
param deadLetterContainerName string

resource systemTopic 'Microsoft.EventGrid/systemTopics@2022-06-15' = {
  name: systemTopicName
  location: location
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    source: workspaceId
    topicType: 'Microsoft.MachineLearningServices.Workspaces'
  }
}

resource dataAccount 'Microsoft.Storage/storageAccounts@2024-01-01' existing = {
  name: dataAccountName

  resource blobs 'blobServices' existing = {
    name: 'default'

    resource deadLetters 'containers' existing = {
      name: deadLetterContainerName
    }
  }
}

// Events that still fail after Event Grid's retries are written here with the topic's identity (no key).
resource topicWritesDeadLetters 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(dataAccount::blobs::deadLetters.id, systemTopic.id, roleIds.storageBlobDataContributor)
  scope: dataAccount::blobs::deadLetters
  properties: {
    roleDefinitionId: subscriptionResourceId(
      'Microsoft.Authorization/roleDefinitions',
      roleIds.storageBlobDataContributor
    )
    principalId: systemTopic.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

output systemTopicName string = systemTopic.name
