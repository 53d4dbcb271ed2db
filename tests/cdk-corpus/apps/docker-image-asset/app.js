// A docker image asset (built and pushed to the bootstrap ECR repository by `cdk deploy`).
const path = require('path');
const cdk = require('aws-cdk-lib');
const ecrAssets = require('aws-cdk-lib/aws-ecr-assets');
const ssm = require('aws-cdk-lib/aws-ssm');

class ImageStack extends cdk.Stack {
  constructor(scope, id, props) {
    super(scope, id, props);
    const image = new ecrAssets.DockerImageAsset(this, 'Worker', { directory: path.join(__dirname, 'image') });
    new ssm.StringParameter(this, 'ImageUri', {
      parameterName: '/corpus/docker/image-uri',
      stringValue: image.imageUri,
    });
  }
}

const app = new cdk.App();
new ImageStack(app, 'ImageStack', { env: { account: '111111111111', region: 'ap-northeast-1' } });
app.synth();
