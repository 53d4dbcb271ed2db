const { DynamoDBClient, GetItemCommand } = require('@aws-sdk/client-dynamodb');
const db = new DynamoDBClient({});
exports.handler = async (event) => {
  const key = { [process.env.PRIMARY_KEY]: { S: event.pathParameters.id } };
  const out = await db.send(new GetItemCommand({ TableName: process.env.TABLE_NAME, Key: key }));
  return out.Item ? { statusCode: 200, body: JSON.stringify(out.Item) } : { statusCode: 404, body: '' };
};
