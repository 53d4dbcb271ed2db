// A typical service stack: an encrypted bucket, a work queue with a dead-letter queue, a topic
// fanning out to the queue, and a role allowed to read the bucket and send to the queue.
const cdk = require('aws-cdk-lib');
const iam = require('aws-cdk-lib/aws-iam');
const s3 = require('aws-cdk-lib/aws-s3');
const sns = require('aws-cdk-lib/aws-sns');
const subs = require('aws-cdk-lib/aws-sns-subscriptions');
const sqs = require('aws-cdk-lib/aws-sqs');

class ServiceStack extends cdk.Stack {
  constructor(scope, id, props) {
    super(scope, id, props);
    const bucket = new s3.Bucket(this, 'Uploads', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      versioned: true,
    });
    const dlq = new sqs.Queue(this, 'WorkDlq', { retentionPeriod: cdk.Duration.days(14) });
    const queue = new sqs.Queue(this, 'Work', { deadLetterQueue: { queue: dlq, maxReceiveCount: 5 } });
    const topic = new sns.Topic(this, 'Uploaded', { displayName: 'upload events' });
    topic.addSubscription(new subs.SqsSubscription(queue, { rawMessageDelivery: true }));
    const role = new iam.Role(this, 'WorkerRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: 'worker tasks',
    });
    bucket.grantRead(role);
    queue.grantSendMessages(role);
    topic.grantPublish(role);
    cdk.Tags.of(this).add('team', 'corpus');
    new cdk.CfnOutput(this, 'BucketName', { value: bucket.bucketName });
    new cdk.CfnOutput(this, 'QueueUrl', { value: queue.queueUrl });
    new cdk.CfnOutput(this, 'TopicArn', { value: topic.topicArn });
    new cdk.CfnOutput(this, 'RoleArn', { value: role.roleArn });
  }
}

const app = new cdk.App();
new ServiceStack(app, 'TypicalServiceStack', { env: { account: '111111111111', region: 'ap-northeast-1' } });
app.synth();
