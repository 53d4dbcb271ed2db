// The shape of aws-samples/aws-cdk-examples typescript/api-cors-lambda-crud-dynamodb: a DynamoDB
// table, functions sharing one code asset with read/write grants, and a REST API routing
// /items and /items/{id} to them; environment-agnostic.
const path = require('path');
const cdk = require('aws-cdk-lib');
const apigateway = require('aws-cdk-lib/aws-apigateway');
const dynamodb = require('aws-cdk-lib/aws-dynamodb');
const lambda = require('aws-cdk-lib/aws-lambda');

class ItemsApiStack extends cdk.Stack {
  constructor(scope, id, props) {
    super(scope, id, props);
    const table = new dynamodb.Table(this, 'Items', {
      partitionKey: { name: 'itemId', type: dynamodb.AttributeType.STRING },
      removalPolicy: cdk.RemovalPolicy.DESTROY,
    });
    const code = lambda.Code.fromAsset(path.join(__dirname, 'src'));
    const handler = (id, file) => {
      const fn = new lambda.Function(this, id, {
        code,
        handler: `${file}.handler`,
        runtime: lambda.Runtime.NODEJS_22_X,
        environment: { TABLE_NAME: table.tableName, PRIMARY_KEY: 'itemId' },
      });
      table.grantReadWriteData(fn);
      return fn;
    };
    const listItems = handler('ListItems', 'list');
    const getItem = handler('GetItem', 'get');
    const api = new apigateway.RestApi(this, 'ItemsApi', { restApiName: 'Items Service' });
    const items = api.root.addResource('items');
    items.addMethod('GET', new apigateway.LambdaIntegration(listItems));
    items.addResource('{id}').addMethod('GET', new apigateway.LambdaIntegration(getItem));
    new cdk.CfnOutput(this, 'TableName', { value: table.tableName });
    new cdk.CfnOutput(this, 'ApiId', { value: api.restApiId });
  }
}

const app = new cdk.App();
new ItemsApiStack(app, 'ItemsApiStack');
app.synth();
