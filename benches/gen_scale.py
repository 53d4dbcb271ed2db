"""Generates the scale benchmark's pipeline: N accounts, each with 4 chained stages.

  gen_scale.py DIR N                       write DIR/pipeline.yml and its template
  gen_scale.py --seed-roles ENDPOINT FILE  create OrganizationAccountAccessRole (trusting the CI
                                           account) in every account of FILE, as AWS Organizations
                                           would, so `pipeline-run bootstrap` can reach them
"""
import json
import os
import sys

TEMPLATE = """Parameters:
  Previous:
    Type: String
    Default: none
Resources:
  Value:
    Type: AWS::SSM::Parameter
    Properties:
      Name: !Sub /scale/${AWS::StackName}
      Type: String
      Value: !Ref Previous
Outputs:
  Name:
    Value: !Ref Value
"""


def generate(directory, n):
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "chain.yml"), "w") as f:
        f.write(TEMPLATE)
    lines = ["version: 1", "accounts:"]
    accounts = ["111111111111"] + [f"{300000000000 + i:012d}" for i in range(1, n)]
    for i, acct in enumerate(accounts):
        lines += [f"  a{i}:", f'    id: "{acct}"', "    region: ap-northeast-1"]
    lines.append("stages:")
    for i in range(len(accounts)):
        for step in range(4):
            lines += [f"  - name: a{i}-s{step}", f"    account: a{i}", "    template: chain.yml"]
            if step:
                lines += ["    parameters:", f"      Previous: ${{a{i}-s{step - 1}.Name}}"]
    with open(os.path.join(directory, "pipeline.yml"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print(os.path.join(directory, "pipeline.yml"))


def seed_roles(endpoint, pipeline):
    import boto3
    accounts = [l.split('"')[1] for l in open(pipeline) if l.strip().startswith("id:")]
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
             "Principal": {"AWS": "arn:aws:iam::111111111111:root"}}]}
    for acct in accounts:
        if acct == "111111111111":
            continue
        iam = boto3.client("iam", endpoint_url=endpoint, region_name="ap-northeast-1",
                           aws_access_key_id="testing", aws_secret_access_key="testing")
        iam.meta.events.register("before-sign", lambda request, a=acct, **_: request.headers.__setitem__("x-moto-account-id", a))
        try:
            iam.create_role(RoleName="OrganizationAccountAccessRole", AssumeRolePolicyDocument=json.dumps(trust))
        except iam.exceptions.EntityAlreadyExistsException:
            pass


if __name__ == "__main__":
    if sys.argv[1] == "--seed-roles":
        seed_roles(sys.argv[2], sys.argv[3])
    else:
        generate(sys.argv[1], int(sys.argv[2]))
