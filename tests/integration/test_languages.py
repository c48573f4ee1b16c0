"""The envelope's messages follow the request's accept-language (en-US, zh-CN, zh-TW), as in the seed:
the gateway's own errors, a refusal by the proxy's routes, and success."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.engine


def test_a_404_is_worded_in_the_asked_language(client):
    path = "/agent/progress/no-such-session"
    english = client.get(path)
    chinese = client.get(path, headers={"accept-language": "zh-CN,zh;q=0.9,en;q=0.8"})
    traditional = client.get(path, headers={"accept-language": "zh-TW"})
    assert english.status_code == chinese.status_code == traditional.status_code == 404
    assert english.json()["message"] == "no session 'no-such-session'; start one with POST /chat"
    assert chinese.json()["message"] == "没有会话 'no-such-session'；请先用 POST /chat 开始一个"  # noqa: RUF001
    assert traditional.json()["message"] == "沒有工作階段 'no-such-session'；請先用 POST /chat 開始一個"  # noqa: RUF001
    assert chinese.json()["code"] == "SESSION_NOT_FOUND", "codes stay as they are"


def test_a_refusal_by_the_proxy_and_a_missing_key_are_translated(appliance):
    with httpx.Client(base_url=appliance.url, headers={"accept-language": "zh-CN"}) as anonymous:
        preview = anonymous.get("/proxy/some-project/3000/")
        key = anonymous.get("/agents")
    assert preview.status_code == 401
    assert preview.json()["message"] == "请用 API 密钥或网关为其签发的令牌打开项目 'some-project'"
    assert key.status_code == 401 and key.json()["message"].startswith("缺少 API 密钥")


def test_success_is_worded_too(client):
    assert client.get("/agents", headers={"accept-language": "zh-TW"}).json()["message"] == "成功"
    assert client.get("/agents").json()["message"] == "success"
