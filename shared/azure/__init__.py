"""The implementations of the ports on the Azure SDKs: Blob Storage (state store, exported data), Log Analytics
(the endpoint's console logs), and Azure ML through ``azure-ai-ml`` (jobs, endpoints and deployments, models,
data assets). Every SDK is imported inside the code that needs it, so function start-up stays light."""
