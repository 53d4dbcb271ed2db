// Two environment-agnostic stacks (no env: account of the credentials, configured region) with
// cross-stack references: a VPC and a bucket made in NetworkStack, used by ServiceStack.
const cdk = require('aws-cdk-lib');
const ec2 = require('aws-cdk-lib/aws-ec2');
const s3 = require('aws-cdk-lib/aws-s3');
const iam = require('aws-cdk-lib/aws-iam');
const ssm = require('aws-cdk-lib/aws-ssm');

class NetworkStack extends cdk.Stack {
  constructor(scope, id, props) {
    super(scope, id, props);
    this.vpc = new ec2.Vpc(this, 'Vpc', {
      ipAddresses: ec2.IpAddresses.cidr('10.40.0.0/16'),
      maxAzs: 2,
      natGateways: 0,
      subnetConfiguration: [
        { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
        { name: 'isolated', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 },
      ],
    });
    this.bucket = new s3.Bucket(this, 'Data', { removalPolicy: cdk.RemovalPolicy.DESTROY });
  }
}

class ServiceStack extends cdk.Stack {
  constructor(scope, id, props) {
    super(scope, id, props);
    const sg = new ec2.SecurityGroup(this, 'ServiceSg', {
      vpc: props.vpc,
      description: 'service instances',
    });
    sg.addIngressRule(ec2.Peer.ipv4('10.40.0.0/16'), ec2.Port.tcp(443), 'https from the VPC');
    const role = new iam.Role(this, 'ServiceRole', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
    });
    props.bucket.grantRead(role);
    new ssm.StringParameter(this, 'BucketName', {
      parameterName: '/corpus/env-agnostic/bucket',
      stringValue: props.bucket.bucketName,
    });
    new cdk.CfnOutput(this, 'SecurityGroupId', { value: sg.securityGroupId });
    new cdk.CfnOutput(this, 'VpcId', { value: props.vpc.vpcId });
    new cdk.CfnOutput(this, 'BucketArn', { value: props.bucket.bucketArn });
  }
}

const app = new cdk.App();
const network = new NetworkStack(app, 'NetworkStack');
new ServiceStack(app, 'ServiceStack', { vpc: network.vpc, bucket: network.bucket });
app.synth();
