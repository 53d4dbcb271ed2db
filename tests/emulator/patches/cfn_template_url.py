"""CloudFormation reads a `TemplateURL` that addresses S3 path-style at the emulator's own address.

AWS: `TemplateURL` (CreateChangeSet, CreateStack, UpdateStack, ValidateTemplate) is the URL of an
object in an S3 bucket; CloudFormation accepts virtual-hosted and path-style S3 URLs
(https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateChangeSet.html,
https://docs.aws.amazon.com/AmazonS3/latest/userguide/VirtualHosting.html#path-style-access).
The emulator's S3 endpoint is its loopback address, so the path-style URL of an object is
`http://127.0.0.1:<port>/<bucket>/<key>` — what an SDK pointed at the emulator with
AWS_ENDPOINT_URL builds, e.g. the AWS CDK CLI for a stack template published as an asset.

moto 5.2.5 (`cloudformation.utils.get_stack_from_s3_url`) treats a URL as path-style only when its
text contains "localhost"; for 127.0.0.1 it takes "127" as the bucket name and answers NoSuchBucket.
This patch reads URLs of a loopback host (127.0.0.0/8, ::1, localhost) path-style; every other URL
is left to moto. Proven by test_cfn.py::test_template_url_of_the_emulators_own_address_is_read.
"""
import ipaddress
from urllib.parse import urlparse, urlunparse

from moto.cloudformation import responses as cfn_responses


def _loopback(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def apply():
    resp = cfn_responses.CloudFormationResponse
    original = resp._get_stack_from_s3_url

    def _get_stack_from_s3_url(self, template_url):
        u = urlparse(template_url)
        if _loopback(u.hostname or "") and u.hostname != "localhost":
            # moto's own path-style branch is keyed on "localhost"; same object, same address
            template_url = urlunparse(u._replace(netloc=f"localhost:{u.port}" if u.port else "localhost"))
        return original(self, template_url)

    resp._get_stack_from_s3_url = _get_stack_from_s3_url
