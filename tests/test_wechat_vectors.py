"""The official WeChat signature and message-encryption test vectors, through wechatpy (what the channel uses)
and the channel's own signature helper. Sources: WeChat's official sample code (WXBizMsgCrypt) and wechatpy
1.8.18's own tests, named beside each vector."""
from __future__ import annotations

import pytest
from wechatpy import parse_message
from wechatpy.crypto import PrpCrypto, WeChatCrypto
from wechatpy.enterprise.crypto import WeChatCrypto as WorkCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.utils import check_signature

from bot.channels.wechat import _sign, safe_xml

KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"

# Vector C (official Python Sample.py): a compatible-mode body, plaintext fields plus <Encrypt>.
C_BODY = (
    "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]>"
    "</FromUserName><CreateTime>1409735668</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[abcdteT]]>"
    "</Content><MsgId>6054768590064713728</MsgId><Encrypt><![CDATA[hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655Hu"
    "D0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZ"
    "kyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3y"
    "ZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJS"
    "gM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE=]]></Encrypt></xml>")
C_PLAIN = ("<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>\n"
           "<FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName>\n<CreateTime>1409735668</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n"
           "<Content><![CDATA[abcdteT]]></Content>\n<MsgId>6054768590064713728</MsgId>\n</xml>")
# Vector D (official C++ Sample.cpp).
D_CIPHER = (
    "mfBCs65c67CeJw22u4VT2TD73q5H06+ocrAIxswCaeZ/d/Lw0msSZFHY0teqgSYiI1zR2gD2DKrB3TIrmX/liNSDrGqS8jSI/WPeKB5VPr7Ezr7gom"
    "ZAyGCwJSgT1TRFWPfONGJMxuj2nk4faTuspAuVIFQ6SHwZuJBZC7mcJp7Cgr9cUhATQWDbOPaE7ukZBTV2YqyzH+UI2AK+J1S47cE79k1RX8t0hcTz/"
    "O0hlK8DGXKnvYv88qKQcI7z4iaajqHfRVZKBNyOODabs+It+ZfM3dWTeFcPgDbGtIEnpt/EDtuuA/zMvtkaKdHdswPnVZQ+xdwbYr3ldGvfT8HlEYEgk"
    "gKaThxTFobVlwzu2ZkXCjicbP3xdr15Iq48ObgzPpqYuZ3IEoyggZDKClquk0u0orMck4GTF/XyE8yGzc4=")
# Vector A2 (official Java WXBizMsgCryptTest): a video reply with Chinese in it, fixed random prefix.
A2_MSG = ("<xml><ToUserName><![CDATA[oia2Tj我是中文jewbmiOUlr6X-1crbLOvLw]]></ToUserName>"
          "<FromUserName><![CDATA[gh_7f083739789a]]></FromUserName><CreateTime>1407743423</CreateTime><MsgType><![CDATA[video]]></MsgType><Video><MediaId><![CDATA["
          "eYJ1MbwPRJtOvIEabaxHs7TX2D-HV71s79GUxqdUkjm6Gs2Ed1KF3ulAOA9H1xG0]]></MediaId><Title><![CDATA[testCallBackReply"
          "Video]]></Title><Description><![CDATA[testCallBackReplyVideo]]></Description></Video></xml>")
A2_CIPHER = (
    "jn1L23DB+6ELqJ+6bruv23M2GmYfkv0xBh2h+XTBOKVKcgDFHle6gqcZ1cZrk3e1qjPQ1F4RsLWzQRG9udbKWesxlkupqcEcW7ZQweImX9+wLMa0GaU"
    "zpkycA8+IamDBxn5loLgZpnS7fVAbExOkK5DYHBmv5tptA9tklE/fTIILHR8HLXa5nQvFb3tYPKAlHF3rtTeayNf0QuM+UW/wM9enGIDIJHF7CLHiDNA"
    "Yxr+r+OrJCmPQyTy8cVWlu9iSvOHPT/77bZqJucQHQ04sq7KZI27OcqpQNSto2OdHCoTccjggX5Z9Mma0nMJBU+jLKJ38YB1fBIz+vBzsYjrTmFQ44Y"
    "feEuZ+xRTQwr92vhA9OxchWVINGC50qE/6lmkwWTwGX9wtQpsJKhP+oS7rvTY8+VdzETdfakjkwQ5/Xka042OlUb1/slTwo4RscuQ+RdxSGvDahxAJ6"
    "+EAjLt9d8igHngxIbf6YyqqROxuxqIeIch3CssH/LqRs+iAcILvApYZckqmA7FNERspKA5f8GoJ9sv8xmGvZ9Yrf57cExWtnX8aCMMaBropU/1k+hKP5"
    "LVdzbWCG0hGwx/dQudYR/eXp3P0XxjlFiy+9DMlaFExWUZQDajPkdPrEeOwofJb")
# Vector E (open-platform doc example; key = 43 x "A", i.e. an all-zero AES key).
E_BODY = (
    "<xml><ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName><Encrypt><![CDATA[D7yzvUNAL930rd28wf21s4hvXhz0L6Uit/p2Di6"
    "C5DHyYGpEgdBRnKjBec34JwoQXicwaZC7fOVihW80F4VtsdvE//1vr7oAbqjDv8KenVp+ajKYpJnyQ4zMRhIC+a31fCVOMC03FfzV/QuC94kBP55a+Z"
    "a3sJgvAn+ZbsNqZI5DkyuzkhQN8OBqCzFhizGmy0xpM0MEA4agpvE+RuNO1rhHTtuJB5yltw1FiYzecSXJ+y/D2r81VkRn2eYjh2ltsoyfbDR7Is6o"
    "okXIFxTfyeNyeHxMeT4KN5WpCDmSbTcUYrbBUlkGLJ9n/rU8YOywma6G7aTb7KZKOqCxgfoUlYEZPk4FUL/TK7ShriFDMVCLyjQJ15Ob++agDWtcxhf"
    "Ufe6HIoIpRW8mKNBQiY/Jd1svvuskA1wLef1RTtzKfMpagSCX/laZINmdnX4zrF6kIaR9P4xQrWXbsTFHTYe0Mg==]]></Encrypt></xml>")
E_REPLY_CIPHER = ("hE8R6mGXHkJJjU72KxzKUd1GEkKJaEZq7vRL8XgK3o+00k8JGq6+pZJUIlTSyhsX+bxIBQ72g3GyvDdIZcr6+3HAZbSv"
                  "PT9t/o11MI7d6WELwqrGd7jMnV0zv3Zc9Nq7")


def _fixed_random(random: str):
    class FixedPrpCrypto(PrpCrypto):
        def get_random_string(self):
            return random
    return FixedPrpCrypto


@pytest.mark.parametrize("token,timestamp,nonce,signature", [
    ("test", "1410685589", "test", "f21891de399b4e33a1a93c9a7b8a8fffb5a443ff"),  # P1, wechatpy tests
    ("spamtest", "1409735669", "1320562132", "16120ec1b8dbb870f510d87ce6bc2463eae6ca1a"),  # P2, pairs with C
    ("789", "456", "123", "f7c3bc1d808e04732adf679965ccc34ca7ae3441"),  # P3
])
def test_plain_signature_vectors(token, timestamp, nonce, signature):
    check_signature(token, signature, timestamp, nonce)
    assert _sign(token, timestamp, nonce) == signature
    tampered = signature[:-1] + ("e" if signature[-1] != "e" else "f")
    with pytest.raises(InvalidSignatureException):
        check_signature(token, tampered, timestamp, nonce)


@pytest.mark.parametrize("msg,cipher", [
    ("我是中文abcd123",
     "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg=="),  # A
    (A2_MSG, A2_CIPHER),  # A2
])
def test_encryption_vectors_with_fixed_random(msg, cipher):
    crypto = _fixed_random("aaaabbbbccccdddd")(WeChatCrypto("pamtest", KEY, "wxb11529c136998cb6").key)
    assert crypto.encrypt(msg, "wxb11529c136998cb6").decode() == cipher
    assert crypto.decrypt(cipher, "wxb11529c136998cb6") == msg


def test_wecom_url_verification_vector_b():
    crypto = WorkCrypto("QDG6eK", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", "wx5823bf96d3bd56c7")
    echostr = "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ=="
    assert _sign("QDG6eK", "1409659589", "263014780", echostr) == "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3"
    assert crypto.check_signature("5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3", "1409659589", "263014780",
                                  echostr) == "1616140317555161061"


def test_decrypt_vector_c_exactly_and_parse_it():
    crypto = WeChatCrypto("spamtest", KEY, "wx2c2769f8efd9abc2")
    plain = crypto.decrypt_message(C_BODY, "5d197aaffba7e9b25a30732f161a50dee96bd5fa", "1409735669", "1320562132")
    assert plain == C_PLAIN  # newlines included: nothing trimmed
    safe_xml(plain)
    msg = parse_message(plain)
    assert (msg.type, msg.content, msg.id, msg.source) == ("text", "abcdteT", 6054768590064713728,
                                                           "oyORnuP8q7ou2gfYjqLzSIWZf0rs")


def test_vector_c_rejects_wrong_signature_and_wrong_appid():
    with pytest.raises(InvalidSignatureException):
        WeChatCrypto("spamtest", KEY, "wx2c2769f8efd9abc2").decrypt_message(
            C_BODY, "5d197aaffba7e9b25a30732f161a50dee96bd5fb", "1409735669", "1320562132")
    with pytest.raises(InvalidAppIdException):
        WeChatCrypto("spamtest", KEY, "wx_other_appid").decrypt_message(
            C_BODY, "5d197aaffba7e9b25a30732f161a50dee96bd5fa", "1409735669", "1320562132")


def test_decrypt_vector_d():
    body = f"<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><Encrypt><![CDATA[{D_CIPHER}]]></Encrypt></xml>"
    plain = WeChatCrypto("spamtest", KEY, "wx2c2769f8efd9abc2").decrypt_message(
        body, "003fee52ecc56afb46c00b5c7721be87860ce785", "1410349438", "298025754")
    msg = parse_message(plain)
    assert (msg.type, msg.content, msg.id, msg.time) == ("text", "abcdteT", 6057404712141979648, 1410349438)


def test_vector_e_all_zero_key_decrypt_and_reply():
    key, appid = "A" * 43, "wx134c8103faa5a59e"
    plain = WeChatCrypto("AAAAA", key, appid).decrypt_message(
        E_BODY, "6c12a4205838198b8fa631b3220723bb07f1015c", "1715943329", "1590219412")
    assert len(plain.encode()) == 292 and "<Event><![CDATA[debug_demo]]></Event>" in plain
    crypto = _fixed_random("999951349e8ee746")(WeChatCrypto("AAAAA", key, appid).key)
    cipher = crypto.encrypt("<xml><demo_resp>[CDATA[good luck]]</demo_resp></xml>", appid).decode()
    assert cipher == E_REPLY_CIPHER
    assert _sign("AAAAA", "1713424427", "415670741", cipher) == "03e0812039325c2712ef5f0f980fd14c70d6e307"
