// Stacks without resources next to a real one: an outputs-only stack and an empty stack (the
// CDK CLI skips both: "has no resources, skipping deployment"), and a queue stack.
const cdk = require('aws-cdk-lib');
const sqs = require('aws-cdk-lib/aws-sqs');

class OutputsOnlyStack extends cdk.Stack {
  constructor(scope, id, props) {
    super(scope, id, props);
    new cdk.CfnOutput(this, 'Environment', { value: 'corpus' });
  }
}

class QueueStack extends cdk.Stack {
  constructor(scope, id, props) {
    super(scope, id, props);
    const queue = new sqs.Queue(this, 'Jobs');
    new cdk.CfnOutput(this, 'QueueArn', { value: queue.queueArn });
  }
}

const app = new cdk.App();
new OutputsOnlyStack(app, 'OutputsOnlyStack');
new cdk.Stack(app, 'EmptyStack');
new QueueStack(app, 'QueueStack');
app.synth();
