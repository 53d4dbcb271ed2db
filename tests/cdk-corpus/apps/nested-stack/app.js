// A stack with a NestedStack (its template is a file asset, deployed as
// AWS::CloudFormation::Stack); the parent reads the nested stack's output.
const cdk = require('aws-cdk-lib');
const sns = require('aws-cdk-lib/aws-sns');
const sqs = require('aws-cdk-lib/aws-sqs');

class QueuesNested extends cdk.NestedStack {
  constructor(scope, id, props) {
    super(scope, id, props);
    this.queue = new sqs.Queue(this, 'Orders');
    this.deadLetters = new sqs.Queue(this, 'OrdersDlq');
  }
}

class ParentStack extends cdk.Stack {
  constructor(scope, id, props) {
    super(scope, id, props);
    const nested = new QueuesNested(this, 'Queues');
    const topic = new sns.Topic(this, 'Alerts');
    new cdk.CfnOutput(this, 'OrdersQueueArn', { value: nested.queue.queueArn });
    new cdk.CfnOutput(this, 'AlertsTopicArn', { value: topic.topicArn });
  }
}

const app = new cdk.App();
new ParentStack(app, 'ParentStack', { env: { account: '111111111111', region: 'ap-northeast-1' } });
app.synth();
