// A CDK Pipelines-style app: a top-level pipeline stack and two `Stage`s (nested cloud
// assemblies `assembly-Beta`, `assembly-Prod`), each with a network and a service stack joined by a
// cross-stack reference. Deployed by stage: `'Beta/*'`.
const cdk = require('aws-cdk-lib');
const sns = require('aws-cdk-lib/aws-sns');
const sqs = require('aws-cdk-lib/aws-sqs');
const subs = require('aws-cdk-lib/aws-sns-subscriptions');

class EventsStack extends cdk.Stack {
  constructor(scope, id, props) {
    super(scope, id, props);
    this.topic = new sns.Topic(this, 'Events');
    new cdk.CfnOutput(this, 'TopicArn', { value: this.topic.topicArn });
  }
}

class WorkerStack extends cdk.Stack {
  constructor(scope, id, props) {
    super(scope, id, props);
    const queue = new sqs.Queue(this, 'Work', { visibilityTimeout: cdk.Duration.seconds(120) });
    props.topic.addSubscription(new subs.SqsSubscription(queue));
    new cdk.CfnOutput(this, 'QueueUrl', { value: queue.queueUrl });
  }
}

class AppStage extends cdk.Stage {
  constructor(scope, id, props) {
    super(scope, id, props);
    const events = new EventsStack(this, 'Events');
    new WorkerStack(this, 'Worker', { topic: events.topic });
  }
}

class PipelineStack extends cdk.Stack {
  constructor(scope, id, props) {
    super(scope, id, props);
    const artifacts = new sqs.Queue(this, 'Notifications');
    new cdk.CfnOutput(this, 'NotificationsUrl', { value: artifacts.queueUrl });
  }
}

const app = new cdk.App();
new PipelineStack(app, 'PipelineStack', { env: { account: '111111111111', region: 'ap-northeast-1' } });
new AppStage(app, 'Beta', { env: { account: '111111111111', region: 'ap-northeast-1' } });
new AppStage(app, 'Prod', { env: { account: '222222222222', region: 'ap-northeast-1' } });
app.synth();
