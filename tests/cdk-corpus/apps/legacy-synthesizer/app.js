// An old-style stack: the legacy synthesizer, whose templates take the asset's location as
// `AssetParameters…` parameters that the deployer fills (no asset manifest, no bootstrap roles).
const path = require('path');
const cdk = require('aws-cdk-lib');
const assets = require('aws-cdk-lib/aws-s3-assets');
const ssm = require('aws-cdk-lib/aws-ssm');

class SiteStack extends cdk.Stack {
  constructor(scope, id, props) {
    super(scope, id, props);
    const site = new assets.Asset(this, 'Site', { path: path.join(__dirname, 'site') });
    new ssm.StringParameter(this, 'SiteUrl', {
      parameterName: '/corpus/legacy/site-url',
      stringValue: site.s3ObjectUrl,
    });
    new cdk.CfnOutput(this, 'SiteBucket', { value: site.s3BucketName });
    new cdk.CfnOutput(this, 'SiteKey', { value: site.s3ObjectKey });
  }
}

const app = new cdk.App();
new SiteStack(app, 'LegacySiteStack', {
  env: { account: '222222222222', region: 'ap-northeast-1' },
  synthesizer: new cdk.LegacyStackSynthesizer(),
});
app.synth();
