// The documentation's example account id left in the app (123456789012): nobody's account to
// deploy to.
const cdk = require('aws-cdk-lib');
const sqs = require('aws-cdk-lib/aws-sqs');

class QueueStack extends cdk.Stack {
  constructor(scope, id, props) {
    super(scope, id, props);
    new sqs.Queue(this, 'Queue');
  }
}

const app = new cdk.App();
new QueueStack(app, 'ExampleAccountStack', { env: { account: '123456789012', region: 'ap-northeast-1' } });
app.synth();
