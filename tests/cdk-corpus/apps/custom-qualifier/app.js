// A custom bootstrap qualifier: roles, staging bucket and version parameter are
// cdk-corpusq1-…, as after `cdk bootstrap --qualifier corpusq1`.
const path = require('path');
const cdk = require('aws-cdk-lib');
const assets = require('aws-cdk-lib/aws-s3-assets');
const sqs = require('aws-cdk-lib/aws-sqs');

class ConfigStack extends cdk.Stack {
  constructor(scope, id, props) {
    super(scope, id, props);
    const config = new assets.Asset(this, 'Config', { path: path.join(__dirname, 'config') });
    const queue = new sqs.Queue(this, 'Reload');
    new cdk.CfnOutput(this, 'ConfigKey', { value: config.s3ObjectKey });
    new cdk.CfnOutput(this, 'ReloadQueueUrl', { value: queue.queueUrl });
  }
}

const app = new cdk.App();
new ConfigStack(app, 'QualifiedStack', {
  env: { account: '111111111111', region: 'ap-northeast-1' },
  synthesizer: new cdk.DefaultStackSynthesizer({ qualifier: 'corpusq1' }),
});
app.synth();
