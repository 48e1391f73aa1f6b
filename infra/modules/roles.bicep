// Built-in role definition IDs (the same in every tenant), one place for every module's role assignments.
// No Owner or Contributor: each identity gets the data-plane or reader role its work needs, on the narrowest scope.

@export()
var roleIds = {
  // Storage Blob Data Owner: the Functions host's own storage (AzureWebJobsStorage: leases, blobs, containers)
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  // Storage Blob Data Contributor: read and write blobs of one container
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  // Storage Blob Data Reader: read blobs of one container
  storageBlobDataReader: '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1'
  // AzureML Data Scientist: jobs, models, data assets, online endpoints and deployments; no compute or workspace changes
  azureMLDataScientist: 'f6c7c914-8db3-469d-8ca1-694a8f32e121'
  // AzureML Registry User: read and create assets in an Azure ML registry
  azureMLRegistryUser: '1823dd4f-9b8c-4ab6-ab4e-7397a3684615'
  // Log Analytics Reader: query a Log Analytics workspace
  logAnalyticsReader: '73c42c96-874c-492b-b04d-ab87d138a893'
  // Monitoring Reader: read a resource's Azure Monitor metrics
  monitoringReader: '43d0d8ad-25c7-4714-9337-8ba259a9fe05'
  // Monitoring Metrics Publisher: send telemetry to Application Insights with Entra ID
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}
