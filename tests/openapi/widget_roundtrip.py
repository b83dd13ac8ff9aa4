"""A client generated from Ringside's own /openapi.json (openapi-python-client), for the e2e
tests: creates a widget through the generated typed call and reads it back.

    python widget_roundtrip.py GENERATED_DIR BASE_URL TOKEN

GENERATED_DIR holds the package `ringside_client` the generator wrote. Prints one JSON line.
"""

import json
import sys

sys.path.insert(0, sys.argv[1])

from ringside_client import AuthenticatedClient  # noqa: E402
from ringside_client.api.widgets import get_widgets_id, post_widgets  # noqa: E402
from ringside_client.models import CreateWidget, WidgetView  # noqa: E402

client = AuthenticatedClient(base_url=sys.argv[2], token=sys.argv[3])
made = post_widgets.sync(
    client=client,
    body=CreateWidget(name="Generated", allowed_domains=["gen.example"], primary_color="#112233"),
)
assert isinstance(made, WidgetView), f"the create answer parsed as {made!r}"
got = get_widgets_id.sync(client=client, id=made.id)
assert isinstance(got, WidgetView), f"the read answer parsed as {got!r}"
print(
    json.dumps(
        {
            "id": got.id,
            "name": got.name,
            "allowedDomains": got.allowed_domains,
            "primaryColor": got.primary_color,
            "publicKey": got.public_key,
            "position": got.position,
            "offlineEnabled": got.offline_form.enabled,
        }
    )
)
