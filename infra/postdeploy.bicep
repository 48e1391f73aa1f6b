// The wiring that needs the deployed functions, deployed by the azd postdeploy hook (infra/hooks/postdeploy.sh)
// after `azd deploy`: Event Grid validates an Azure Function destination when the subscription is created, and the
// function keys exist only once the host has indexed the functions. retrain_on_alert's own default key (it opens that
// function only, not the operator routes a host key would) is read here, at deployment time, by listKeys, and goes
// only into the action group: never an output, a parameter or a file.
// Checked by a parser and tests, never compiled or deployed where it was written.

targetScope = 'resourceGroup'

param environmentName string
param location string = resourceGroup().location
param functionAppName string
param systemTopicName string
param appInsightsName string
param dataAccountName string
param deadLetterContainerName string
param modelName string

@description('Email address told of every alert, the data-quality one included, which retrains nothing (empty: no email).')
param alertEmail string = ''

@description('Event Grid tries a delivery this many times before dead-lettering it.')
param maxDeliveryAttempts int = 30

@description('Minutes an undelivered event is retried before it is dead-lettered.')
param eventTimeToLiveInMinutes int = 1440

var tags = {
  'azd-env-name': environmentName
}
var alertRules = loadJsonContent('generated/alert-rules.json')

resource app 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName

  resource deployRegisteredModel 'functions' existing = {
    name: 'deploy_registered_model'
  }

  resource retrainOnAlert 'functions' existing = {
    name: 'retrain_on_alert'
  }
}

resource systemTopic 'Microsoft.EventGrid/systemTopics@2022-06-15' existing = {
  name: systemTopicName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

resource dataAccount 'Microsoft.Storage/storageAccounts@2024-01-01' existing = {
  name: dataAccountName
}

// ModelRegistered of this model only (subject models/<name>:<version>) → deploy_registered_model.
resource modelRegistered 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = {
  parent: systemTopic
  name: 'deploy-registered-model'
  properties: {
    destination: {
      endpointType: 'AzureFunction'
      properties: {
        resourceId: app::deployRegisteredModel.id
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    eventDeliverySchema: 'EventGridSchema'
    filter: {
      includedEventTypes: [
        'Microsoft.MachineLearningServices.ModelRegistered'
      ]
      subjectBeginsWith: 'models/${modelName}:'
      isSubjectCaseSensitive: true
    }
    retryPolicy: {
      maxDeliveryAttempts: maxDeliveryAttempts
      eventTimeToLiveInMinutes: eventTimeToLiveInMinutes
    }
    deadLetterWithResourceIdentity: {
      identity: {
        type: 'SystemAssigned'
      }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: {
          resourceId: dataAccount.id
          blobContainerName: deadLetterContainerName
        }
      }
    }
  }
}

// Fired alerts → retrain_on_alert, in the common alert schema the handler reads.
resource retrainActionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: 'ag-retrain-${environmentName}'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'retrain'
    enabled: true
    webhookReceivers: [
      {
        name: 'retrain_on_alert'
        serviceUri: 'https://${app.properties.defaultHostName}/api/alerts/retrain?code=${listKeys(app::retrainOnAlert.id, '2024-04-01').default}'
        useCommonAlertSchema: true
        useAadAuth: false
      }
    ]
  }
}

// Every alert → the team, by email in the common alert schema (when an address is given): data quality retrains
// nothing, so without this group its alert would reach no one.
resource notifyActionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (!empty(alertEmail)) {
  name: 'ag-notify-${environmentName}'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'mlops-alert'
    enabled: true
    emailReceivers: [
      {
        name: 'team'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

// One log search alert per rule the contracts declare (infra/generated/alert-rules.json).
resource logAlerts 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = [
  for rule in alertRules.rules: {
    name: rule.name
    location: location
    tags: tags
    kind: 'LogAlert'
    properties: {
      displayName: rule.name
      description: rule.description
      severity: rule.severity
      enabled: true
      scopes: [
        appInsights.id
      ]
      evaluationFrequency: rule.evaluationFrequency
      windowSize: rule.windowSize
      autoMitigate: rule.autoMitigate
      criteria: {
        allOf: [
          {
            query: replace(rule.query, alertRules.modelNamePlaceholder, modelName)
            timeAggregation: rule.timeAggregation
            operator: rule.operator
            threshold: rule.threshold
            failingPeriods: {
              numberOfEvaluationPeriods: 1
              minFailingPeriodsToAlert: 1
            }
          }
        ]
      }
      actions: {
        actionGroups: concat(
          rule.retrains ? [retrainActionGroup.id] : [],
          empty(alertEmail) ? [] : [notifyActionGroup.id]
        )
      }
    }
  }
]
