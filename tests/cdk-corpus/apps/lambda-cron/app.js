// The shape of aws-samples/aws-cdk-examples typescript/lambda-cron: a function with inline code
// run on a schedule by an EventBridge rule, environment-agnostic.
const cdk = require('aws-cdk-lib');
const events = require('aws-cdk-lib/aws-events');
const targets = require('aws-cdk-lib/aws-events-targets');
const lambda = require('aws-cdk-lib/aws-lambda');

class LambdaCronStack extends cdk.Stack {
  constructor(scope, id, props) {
    super(scope, id, props);
    const fn = new lambda.Function(this, 'Singleton', {
      code: new lambda.InlineCode('def main(event, context):\n    print("cron")\n    return "ok"\n'),
      handler: 'index.main',
      timeout: cdk.Duration.seconds(300),
      runtime: lambda.Runtime.PYTHON_3_12,
    });
    const rule = new events.Rule(this, 'Rule', {
      schedule: events.Schedule.expression('cron(0 18 ? * MON-FRI *)'),
    });
    rule.addTarget(new targets.LambdaFunction(fn));
    new cdk.CfnOutput(this, 'RuleName', { value: rule.ruleName });
  }
}

const app = new cdk.App();
new LambdaCronStack(app, 'LambdaCronExample');
app.synth();
