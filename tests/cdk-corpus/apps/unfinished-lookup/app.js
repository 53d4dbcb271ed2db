// A context lookup that was never done: Vpc.fromLookup without cdk.context.json. Synthesized by
// the library alone (no CLI to do the lookup), the manifest lists the missing context and the
// template holds the CDK's dummy values.
const cdk = require('aws-cdk-lib');
const ec2 = require('aws-cdk-lib/aws-ec2');

class LookupStack extends cdk.Stack {
  constructor(scope, id, props) {
    super(scope, id, props);
    const vpc = ec2.Vpc.fromLookup(this, 'Shared', { vpcId: 'vpc-0a1b2c3d4e5f60718' });
    const sg = new ec2.SecurityGroup(this, 'AppSg', { vpc, description: 'app' });
    new cdk.CfnOutput(this, 'SecurityGroupId', { value: sg.securityGroupId });
  }
}

const app = new cdk.App();
new LookupStack(app, 'LookupStack', { env: { account: '111111111111', region: 'ap-northeast-1' } });
app.synth();
