exports.handler = async () => ({ statusCode: 200, body: `hello from ${process.env.STAGE}` });
