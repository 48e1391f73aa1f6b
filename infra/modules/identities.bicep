// The user-assigned identities: the function app's and the compute cluster's. Created first, so that every role
// assignment can name its principal before the resources that use the identity exist.

param location string
param tags object
param appIdentityName string
param computeIdentityName string

resource appIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: appIdentityName
  location: location
  tags: tags
}

resource computeIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: computeIdentityName
  location: location
  tags: tags
}

output appIdentityId string = appIdentity.id
output appPrincipalId string = appIdentity.properties.principalId
output appClientId string = appIdentity.properties.clientId
output computeIdentityId string = computeIdentity.id
output computePrincipalId string = computeIdentity.properties.principalId
output computeClientId string = computeIdentity.properties.clientId
