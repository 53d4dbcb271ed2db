// Schema-55 file assets across two accounts: a Lambda function (a directory asset, zipped) in
// 111111111111 and a file asset referenced by a parameter in 222222222222, both ap-northeast-1.
const path = require('path');
const cdk = require('aws-cdk-lib');
const lambda = require('aws-cdk-lib/aws-lambda');
const assets = require('aws-cdk-lib/aws-s3-assets');
const ssm = require('aws-cdk-lib/aws-ssm');

class ApiStack extends cdk.Stack {
  constructor(scope, id, props) {
    super(scope, id, props);
    const fn = new lambda.Function(this, 'Handler', {
      runtime: lambda.Runtime.NODEJS_22_X,
      handler: 'index.handler',
      code: lambda.Code.fromAsset(path.join(__dirname, 'handler')),
      environment: { STAGE: 'corpus' },
    });
    new cdk.CfnOutput(this, 'FunctionName', { value: fn.functionName });
  }
}

class DataStack extends cdk.Stack {
  constructor(scope, id, props) {
    super(scope, id, props);
    const seed = new assets.Asset(this, 'Seed', { path: path.join(__dirname, 'data', 'seed.json') });
    new ssm.StringParameter(this, 'SeedUrl', {
      parameterName: '/corpus/two-accounts/seed-url',
      stringValue: seed.s3ObjectUrl,
    });
    new cdk.CfnOutput(this, 'SeedObjectKey', { value: seed.s3ObjectKey });
  }
}

const app = new cdk.App();
const api = new ApiStack(app, 'ApiStack', { env: { account: '111111111111', region: 'ap-northeast-1' } });
const data = new DataStack(app, 'DataStack', { env: { account: '222222222222', region: 'ap-northeast-1' } });
api.addDependency(data);
app.synth();
