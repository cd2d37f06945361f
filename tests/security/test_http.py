"""Hostile ``http`` steps: forged addresses, DNS rebinding, credentials sent on through redirects.

Every request here goes to real local servers (tests/engine/actions/servers.py); the only thing
replaced is DNS, through the ``resolve`` service the action already takes.
"""

import base64
import json
from urllib.parse import quote

import pytest

import engine
from engine.actions.netguard import check_host
from tests.engine.actions.servers import LocalServer, tls_for

SECRET = "s3cr3t-Token-9f8e7d"


@pytest.fixture
def server():
    server = LocalServer()
    yield server
    server.close()


async def run(text, extra=None, services=None, secrets=None):
    config = engine.EngineSettings(extra=extra or {})
    workflow = engine.load(text, "h.yaml", settings=config)
    runner = engine.Runner(settings=config, secrets=secrets, services=services)
    result = await runner.run(engine.plan(workflow), {}, engine.ListSink())
    runner.close()
    return result


def step(**with_):
    return f"name: h\nsteps:\n  - {json.dumps({'id': 'h', 'uses': 'http', 'with': with_})}\n"


# -- addresses in disguise ------------------------------------------------------------------------------
HOSTILE = [  # (host as written in the URL, the address it stands for, its kind)
    ("[::ffff:127.0.0.1]", "127.0.0.1", "loopback"),                  # IPv4-mapped
    ("[::ffff:a9fe:a9fe]", "169.254.169.254", "link-local"),          # mapped, hex: cloud metadata
    ("[::ffff:0:7f00:1]", "127.0.0.1", "loopback"),                   # IPv4-translated (SIIT)
    ("[::127.0.0.1]", "127.0.0.1", "loopback"),                       # IPv4-compatible
    ("[::a9fe:a9fe]", "169.254.169.254", "link-local"),               # compatible, metadata
    ("[64:ff9b::127.0.0.1]", "127.0.0.1", "loopback"),                # NAT64 well-known prefix
    ("[64:ff9b::a9fe:a9fe]", "169.254.169.254", "link-local"),        # NAT64 to the metadata service
    ("[64:ff9b::a00:1]", "10.0.0.1", "private"),                      # NAT64 into the private network
    ("[2002:7f00:1::]", "127.0.0.1", "loopback"),                     # 6to4
    ("[2002:a9fe:a9fe::1]", "169.254.169.254", "link-local"),         # 6to4, metadata
    ("[2001:0:4136:e378:8000:63bf:80ff:fffe]", "127.0.0.1", "loopback"),  # Teredo client (bits inverted)
    ("[2001:0:a00:1:8000:63bf:5db8:d70e]", "10.0.0.1", "private"),   # Teredo server
    ("[2600::5efe:7f00:1]", "127.0.0.1", "loopback"),                 # ISATAP interface id
    ("2130706433", "127.0.0.1", "loopback"),                          # decimal
    ("0x7f000001", "127.0.0.1", "loopback"),                          # hexadecimal
    ("0177.1", "127.0.0.1", "loopback"),                              # octal, short form
    ("127.1", "127.0.0.1", "loopback"),                               # short form
    ("0x7f.0.0.1", "127.0.0.1", "loopback"),                          # mixed
    ("0", "0.0.0.0", "unspecified"),                                  # Linux connects 0.0.0.0 to itself
    ("169.254.169.254", "169.254.169.254", "link-local"),             # cloud metadata
    ("[fd00:ec2::254]", "fd00:ec2::254", "private"),                  # AWS metadata over IPv6
    ("100.100.100.200", "100.100.100.200", "shared (CGNAT)"),         # Alibaba metadata, 100.64/10
    ("[::]", "::", "unspecified"),
    ("224.0.0.1", "224.0.0.1", "multicast"),
    ("[fe80::1%25eth0]", "fe80::1", "link-local"),
]


async def public(host):
    """A resolver that calls everything public: addresses as written must never be asked about."""
    return ["93.184.215.14"]


@pytest.mark.parametrize("host, address, kind", HOSTILE, ids=[h for h, _, _ in HOSTILE])
async def test_addresses_in_disguise_are_judged_by_what_they_stand_for(server, host, address, kind):
    result = await run(step(url=f"http://{host}:{server.port}/echo"), services={"resolve": public})
    assert result.status == "failed"
    assert "refused:" in result.error and address in result.error and f"{kind} address" in result.error
    assert "http_allow" in result.error
    assert server.seen == []


async def test_names_resolving_to_disguised_addresses_are_refused(server):
    answers = {"mapped.example": ["::ffff:127.0.0.1"], "nat64.example": ["64:ff9b::a9fe:a9fe"],
               "mixed.example": ["93.184.215.14", "2002:a00:1::1"]}

    async def resolve(host):
        return answers[host]

    for name, (address, kind) in {"mapped.example": ("127.0.0.1", "loopback"),
                                  "nat64.example": ("169.254.169.254", "link-local"),
                                  "mixed.example": ("10.0.0.1", "private")}.items():
        result = await run(step(url=f"http://{name}:{server.port}/echo"), services={"resolve": resolve})
        assert f"refused: {name} resolves to" in result.error and address in result.error, result.error
        assert f"a {kind} address" in result.error


async def test_public_addresses_carried_by_nat64_or_6to4_are_not_refused():
    for host in ("64:ff9b::5db8:d70e", "2002:5db8:d70e::1", "93.184.215.14"):
        assert await check_host(host) == (host,)


# -- DNS rebinding --------------------------------------------------------------------------------------
class Rebinding:
    """Answers ``first`` to the first question, 127.0.0.1 to every later one."""

    def __init__(self, first):
        self.first, self.asked = first, 0

    async def __call__(self, host):
        self.asked += 1
        return [self.first] if self.asked == 1 else ["127.0.0.1"]


async def test_rebinding_to_loopback_after_the_check_never_reaches_the_local_server():
    """The check sees an allowed address; the connection must go there, not to a second answer."""
    victim = LocalServer("127.0.0.1")
    decoy = LocalServer("127.0.0.2", victim.port)  # the allowed address, on the same port
    try:
        resolver = Rebinding("127.0.0.2")
        result = await run(step(url=f"http://localhost:{victim.port}/headers"),
                           {"http_allow": ("127.0.0.2",)}, {"resolve": resolver})
        assert result.status == "succeeded", result.error
        assert victim.seen == [] and len(decoy.seen) == 1
        assert result.outputs["h"]["body"]["host"] == f"localhost:{victim.port}", "Host keeps the name"
        assert resolver.asked == 1, "one lookup per hop"
    finally:
        victim.close()
        decoy.close()


async def test_rebinding_from_a_public_address_to_loopback_never_reaches_the_local_server(server):
    resolver = Rebinding("93.184.215.14")
    result = await run(step(url=f"http://localhost:{server.port}/echo", timeout="1s"), services={"resolve": resolver})
    assert result.status == "failed" and "refused" not in result.error
    assert server.seen == [] and resolver.asked == 1


async def test_a_redirect_hop_is_checked_and_pinned_too(server):
    async def resolve(host):
        return {"hop.example": ["169.254.169.254"]}.get(host, ["127.0.0.1"])

    result = await run(step(url=f"{server.base}/redirect?to=http://hop.example:{server.port}/echo"),
                       {"http_allow": ("127.0.0.1",)}, {"resolve": resolve})
    assert "refused: hop.example resolves to 169.254.169.254, a link-local address (cloud metadata)" in result.error
    assert [r["path"] for r in server.seen] == ["/redirect"]


async def test_tls_keeps_the_name_for_sni_and_the_certificate(tmp_path, monkeypatch):
    context, ca_file, names = tls_for("sni.test", tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", ca_file)
    server = LocalServer("127.0.0.1", tls=context)

    async def resolve(host):
        return ["127.0.0.1"]

    try:
        result = await run(step(url=f"https://sni.test:{server.port}/headers"), {"http_allow": ("127.0.0.1",)},
                           {"resolve": resolve})
        assert result.status == "succeeded", result.error
        assert names == ["sni.test"] and result.outputs["h"]["body"]["host"] == f"sni.test:{server.port}"
        wrong = await run(step(url=f"https://other.test:{server.port}/headers"), {"http_allow": ("127.0.0.1",)},
                          {"resolve": resolve})
        assert wrong.status == "failed" and "certificate" in wrong.error.lower(), "verified against the name"
    finally:
        server.close()


# -- credentials on redirects ---------------------------------------------------------------------------
CREDENTIALS = {
    "Authorization": "Bearer ${secrets.TOKEN}",
    "Cookie": "sid=abc123",
    "Proxy-Authorization": "Basic dXNlcjpwYXNz",
    "X-Api-Key": "${secrets.TOKEN}",
    "X-Quoted": quote(SECRET, safe=""),
    "X-Basic": "Basic " + base64.b64encode(f"user:{SECRET}".encode()).decode(),
    "X-Plain": "hello",
}


@pytest.fixture
def two_origins():
    a, b = LocalServer(), LocalServer()
    yield a, b
    a.close()
    b.close()


async def follow(url):
    text = step(url=url, headers=CREDENTIALS)
    result = await run(text, {"http_allow": ("127.0.0.1",)}, secrets={"TOKEN": SECRET})
    assert result.status == "succeeded", result.error
    return result


async def test_a_redirect_to_another_origin_leaves_credentials_and_secrets_behind(two_origins):
    a, b = two_origins
    await follow(f"{a.base}/redirect?cookie=1&to={quote(b.base + '/headers', safe='')}")
    (seen,) = b.seen
    sent = {k.lower() for k in seen["headers"]}
    assert not sent & {"authorization", "cookie", "proxy-authorization", "x-api-key", "x-quoted", "x-basic"}
    assert seen["headers"]["X-Plain"] == "hello" and seen["headers"]["Host"] == f"127.0.0.1:{b.port}"


async def test_a_redirect_within_the_origin_keeps_them(two_origins):
    a, _ = two_origins
    await follow(f"{a.base}/redirect?cookie=1&to=/headers")
    last = a.seen[-1]["headers"]
    assert last["Authorization"] == f"Bearer {SECRET}" and last["X-Api-Key"] == SECRET
    assert last["Cookie"] == "sid=abc123", "only the cookie the workflow sent: no cookie jar"


async def test_coming_back_to_the_first_origin_does_not_bring_them_back(two_origins):
    a, b = two_origins
    back = quote(f"{b.base}/redirect?to={quote(a.base + '/headers', safe='')}", safe="")
    await follow(f"{a.base}/redirect?to={back}")
    assert "Authorization" not in a.seen[-1]["headers"] and "X-Api-Key" not in a.seen[-1]["headers"]


async def test_a_307_to_another_origin_with_a_secret_in_the_body_is_refused(two_origins):
    a, b = two_origins
    text = step(url=f"{a.base}/redirect?code=307&to={quote(b.base + '/echo', safe='')}", method="POST",
                json={"token": "${secrets.TOKEN}"})
    result = await run(text, {"http_allow": ("127.0.0.1",)}, secrets={"TOKEN": SECRET})
    assert result.status == "failed" and "re-send a body holding a secret" in result.error
    assert b.seen == []
