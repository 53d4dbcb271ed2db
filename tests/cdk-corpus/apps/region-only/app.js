// Region fixed, account left to the credentials: aws://unknown-account/ap-northeast-1.
const cdk = require('aws-cdk-lib');
const sns = require('aws-cdk-lib/aws-sns');

class AlarmsStack extends cdk.Stack {
  constructor(scope, id, props) {
    super(scope, id, props);
    const topic = new sns.Topic(this, 'Alarms', { topicName: 'corpus-alarms' });
    new cdk.CfnOutput(this, 'AlarmsTopicArn', { value: topic.topicArn });
  }
}

const app = new cdk.App();
new AlarmsStack(app, 'RegionalAlarmsStack', { env: { region: 'ap-northeast-1' } });
app.synth();
