// The shape of `cdk init sample-app` (aws/aws-cdk, init-templates/v2/sample-app): a queue
// subscribed to a topic, environment-agnostic.
const cdk = require('aws-cdk-lib');
const sns = require('aws-cdk-lib/aws-sns');
const subs = require('aws-cdk-lib/aws-sns-subscriptions');
const sqs = require('aws-cdk-lib/aws-sqs');

class CorpusSampleStack extends cdk.Stack {
  constructor(scope, id, props) {
    super(scope, id, props);
    const queue = new sqs.Queue(this, 'CorpusSampleQueue', { visibilityTimeout: cdk.Duration.seconds(300) });
    const topic = new sns.Topic(this, 'CorpusSampleTopic');
    topic.addSubscription(new subs.SqsSubscription(queue));
    new cdk.CfnOutput(this, 'QueueName', { value: queue.queueName });
  }
}

const app = new cdk.App();
new CorpusSampleStack(app, 'CorpusSampleStack');
app.synth();
