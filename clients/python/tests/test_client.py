"""The jetrecv Python client against a real `jetrecv serve`.

Run by test/integration/python-client.test.ts (part of `npm test`), which starts the daemon
with a state dir, the users and one finished transfer, and passes them in the environment:

    JETRECV_TEST_API_PORT      API port of the daemon (plain HTTP)
    JETRECV_TEST_SUPERUSER     a user named by --superuser
    JETRECV_TEST_USER          a user who is not
    JETRECV_TEST_PASSWORD      the password of both
    JETRECV_TEST_SENT_DEST     destination path of the transfer sent before the run
    JETRECV_TEST_TLS_PORT      API port of a second daemon serving HTTPS (optional)
    JETRECV_TEST_TLS_CA        its self-signed certificate (PEM)

Without JETRECV_TEST_API_PORT every test here is skipped.
"""

import base64
import http.server
import os
import socket
import threading
import unittest
from typing import Any, Dict

from jetrecv import APIInterface, JetRecv, JetRecvApiError, JetRecvConnectionError

ENV = os.environ
PORT = int(ENV.get("JETRECV_TEST_API_PORT", "0"))
SUPERUSER = ENV.get("JETRECV_TEST_SUPERUSER", "")
USER = ENV.get("JETRECV_TEST_USER", "")
PASSWORD = ENV.get("JETRECV_TEST_PASSWORD", "")
SENT_DEST = ENV.get("JETRECV_TEST_SENT_DEST", "")
TLS_PORT = int(ENV.get("JETRECV_TEST_TLS_PORT", "0"))
TLS_CA = ENV.get("JETRECV_TEST_TLS_CA", "")

NO_DAEMON = "no daemon: run through test/integration/python-client.test.ts (sets JETRECV_TEST_API_PORT)"


def random_key() -> str:
    """A public key in the API's form: standard base64 of 32 random bytes."""
    return base64.b64encode(os.urandom(32)).decode("ascii")


def closed_port() -> int:
    """A loopback TCP port nobody listens on (free when asked)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@unittest.skipUnless(PORT, NO_DAEMON)
class ClientTestCase(unittest.TestCase):
    def api(self, **options: Any) -> APIInterface:
        return JetRecv().api("127.0.0.1", PORT, **options)

    def login(self, user: str, elevate: bool = False) -> APIInterface:
        api = self.api()
        api.server.auth(user, PASSWORD)
        if elevate:
            api.server.superuser()
        self.addCleanup(api.disconnect)
        return api

    def assertApiError(self, code: str, status: int, call: Any, *args: Any) -> JetRecvApiError:
        with self.assertRaises(JetRecvApiError) as caught:
            call(*args)
        err = caught.exception
        self.assertEqual((err.code, err.status), (code, status), str(err))
        return err


class AuthTest(ClientTestCase):
    def test_server_info_needs_no_login(self) -> None:
        info = self.api().server.getServerInfo()
        self.assertIs(info["authRequired"], True)
        self.assertEqual(info["apiControlPort"], PORT)
        self.assertNotIn("configuration", info)

    def test_auth_keeps_the_token_and_returns_a_plain_dict(self) -> None:
        api = self.api()
        answer = api.server.auth(USER, PASSWORD)
        self.assertIs(type(answer), dict)
        self.assertEqual((answer["user"], answer["superuser"]), (USER, False))
        self.assertEqual(api.token, answer["token"])
        self.assertEqual(api.server.getServerInfo()["sessionUser"], USER)
        self.assertEqual(api.server.logout(), {"loggedOut": True})
        self.assertIsNone(api.token)
        self.assertApiError("JETRECV_ERR_UNAUTHENTICATED", 401, api.recv.getSourcesAsync)

    def test_bad_password_and_unknown_user_get_the_same_typed_error(self) -> None:
        api = self.api()
        for user in (USER, "nobody-here"):
            err = self.assertApiError("JETRECV_ERR_LOGIN_FAILED", 401, api.server.auth, user, "wrong-password-1")
            self.assertEqual(err.message, "invalid user name or password")
            self.assertIn("JETRECV_ERR_LOGIN_FAILED", str(err))
            self.assertEqual(err.to_dict()["error"]["status"], 401)
        self.assertIsNone(api.token)

    def test_auth_async_is_a_request_whose_token_becomes_the_session(self) -> None:
        api = self.api()
        request = api.server.authAsync(SUPERUSER, PASSWORD)
        self.assertEqual(set(request), {"requestId", "token"})
        self.assertEqual(api.token, request["token"])
        result = api.wait(request)
        self.assertEqual((result["user"], result["superuser"]), (SUPERUSER, True))
        self.assertEqual(api.server.superuser(), {"user": SUPERUSER, "superuser": True})
        api.disconnect()

    def test_a_token_option_reuses_a_session_and_with_logs_out(self) -> None:
        with self.api() as api:
            api.server.auth(USER, PASSWORD)
            token = api.token
            again = self.api(token=token)
            self.assertIsInstance(again.wait(again.recv.getSourcesAsync()), list)
        self.assertIsNone(api.token)
        self.assertApiError("JETRECV_ERR_UNAUTHENTICATED", 401, again.recv.getSourcesAsync)

    def test_no_token_is_refused(self) -> None:
        self.assertApiError("JETRECV_ERR_UNAUTHENTICATED", 401, self.api().recv.getTransfersAsync)


class RecvInterfaceTest(ClientTestCase):
    def test_authorized_clients_in_plain_and_dict_form(self) -> None:
        api = self.login(SUPERUSER, elevate=True)
        key = random_key()
        self.assertEqual(api.wait(api.recv.addAuthorizedClientAsync(key)), {"clientPublicKey": key, "added": True})
        self.assertEqual(
            api.wait(api.recv.addAuthorizedClientAsync({"clientPublicKey": key})),
            {"clientPublicKey": key, "added": False},
        )
        listed = api.wait(api.recv.getAuthorizedClientsAsync())
        self.assertIn(key, listed["clientPublicKeys"])
        self.assertEqual(
            api.wait(api.recv.removeAuthorizedClientAsync({"clientPublicKey": key})),
            {"clientPublicKey": key, "removed": True},
        )
        self.assertEqual(
            api.wait(api.recv.removeAuthorizedClientAsync(key)), {"clientPublicKey": key, "removed": False}
        )
        self.assertNotIn(key, api.wait(api.recv.getAuthorizedClientsAsync())["clientPublicKeys"])

    def test_allow_only_in_plain_and_dict_form(self) -> None:
        api = self.login(SUPERUSER, elevate=True)
        try:
            api.wait(api.recv.allowOnlyAuthorizedClientsAsync(False))
            self.assertEqual(
                api.wait(api.recv.allowOnlyAuthorizedClientsAsync(True)),
                {"onlyAuthorizedClientsAllowed": True, "changed": True},
            )
            self.assertEqual(
                api.wait(api.recv.allowOnlyAuthorizedClientsAsync({"onlyAuthorizedClientsAllowed": True})),
                {"onlyAuthorizedClientsAllowed": True, "changed": False},
            )
            self.assertIs(api.wait(api.recv.getAuthorizedClientsAsync())["onlyAuthorizedClientsAllowed"], True)
            self.assertIs(api.server.getServerInfo()["receiver"]["onlyAuthorizedClientsAllowed"], True)
        finally:
            api.wait(api.recv.allowOnlyAuthorizedClientsAsync({"onlyAuthorizedClientsAllowed": False}))

    def test_sources_and_transfers_show_the_real_transfer(self) -> None:
        api = self.login(USER)
        transfers = api.wait(api.recv.getTransfersAsync())
        sent = [t for t in transfers if t["destinationPath"] == SENT_DEST]
        self.assertEqual(len(sent), 1, transfers)
        self.assertEqual(sent[0]["status"], "complete")
        self.assertEqual(sent[0]["bytesReceived"], sent[0]["totalSize"])
        self.assertRegex(sent[0]["transferId"], "^[0-9a-f]{32}$")
        sources = api.wait(api.recv.getSourcesAsync())
        self.assertTrue(any(s["clientPublicKey"] == sent[0]["clientPublicKey"] for s in sources), sources)
        self.assertTrue(
            all(s["completeTransferCount"] >= 1 for s in sources if s["clientPublicKey"] == sent[0]["clientPublicKey"])
        )


class RequestModelTest(ClientTestCase):
    def test_status_and_result_take_an_id_or_a_request_structure(self) -> None:
        api = self.login(USER)
        request = api.recv.getTransfersAsync()
        self.assertEqual(set(request), {"requestId"})
        for ref in (request, request["requestId"]):
            status = api.server.getRequestStatus(ref)
            self.assertEqual(status["requestId"], request["requestId"])
            self.assertEqual(status["method"], "recv.getTransfersAsync")
            self.assertIn(status["status"], ("pending", "processing", "complete"))
        for ref in (request, request["requestId"]):
            answer = api.server.getRequestResult(ref, 5000)
            self.assertEqual((answer["requestId"], answer["status"]), (request["requestId"], "complete"))
            self.assertIsInstance(answer["result"], list)
        done = api.server.getRequestStatus(request)
        self.assertEqual(
            (done["processing"], done["status"], done["errorMessage"], done["errorCode"]), (False, "complete", "", None)
        )

    def test_a_failed_request_raises_its_own_error_with_its_id(self) -> None:
        api = self.api()
        request = api.server.authAsync(USER, "wrong-password-2")
        with self.assertRaises(JetRecvApiError) as caught:
            api.wait(request)
        err = caught.exception
        self.assertEqual(
            (err.code, err.status, err.request_id), ("JETRECV_ERR_LOGIN_FAILED", 401, request["requestId"])
        )

    def test_unknown_and_foreign_requests_are_typed_errors(self) -> None:
        user = self.login(USER)
        self.assertApiError("JETRECV_ERR_REQUEST_NOT_FOUND", 404, user.server.getRequestStatus, 10**9)
        root = self.login(SUPERUSER)
        theirs = root.recv.getSourcesAsync()
        err = self.assertApiError("JETRECV_ERR_REQUEST_FOREIGN", 403, user.server.getRequestResult, theirs)
        self.assertIn(str(theirs["requestId"]), err.message)


class SuperuserRuleTest(ClientTestCase):
    def test_a_non_superuser_is_refused_everything_the_api_reserves(self) -> None:
        api = self.login(USER)
        key = random_key()
        self.assertApiError("JETRECV_ERR_NOT_SUPERUSER", 403, api.server.superuser)
        for call, arg in (
            (api.recv.addAuthorizedClientAsync, key),
            (api.recv.removeAuthorizedClientAsync, {"clientPublicKey": key}),
            (api.recv.allowOnlyAuthorizedClientsAsync, True),
        ):
            err = self.assertApiError("JETRECV_ERR_NOT_SUPERUSER", 403, call, arg)
            self.assertIn(USER, err.message)
        self.assertApiError("JETRECV_ERR_NOT_SUPERUSER", 403, api.recv.getAuthorizedClientsAsync)
        self.assertApiError("JETRECV_ERR_NOT_SUPERUSER", 403, api.server.updateBandwidthLimits, 1000)

    def test_a_superuser_changes_the_bandwidth_limits_live(self) -> None:
        api = self.login(SUPERUSER, elevate=True)
        self.addCleanup(api.server.updateBandwidthLimits, 0, 0)
        self.assertEqual(
            api.server.updateBandwidthLimits(incomingRateLimitPerSource=20_000),
            {"incomingRateLimit": 0, "incomingRateLimitPerSource": 20_000},
        )
        self.assertEqual(
            api.server.updateBandwidthLimits(600_000)["incomingRateLimitPerSource"], 20_000
        )  # a limit left out keeps its value
        self.assertEqual(api.server.getServerInfo()["bandwidthLimits"]["incomingRateLimit"], 600_000)

    def test_a_superuser_must_elevate_first(self) -> None:
        api = self.login(SUPERUSER)
        self.assertApiError("JETRECV_ERR_NOT_ELEVATED", 403, api.recv.addAuthorizedClientAsync, random_key())
        api.server.superuser()
        self.assertIs(api.wait(api.recv.addAuthorizedClientAsync(random_key()))["added"], True)
        self.assertIn("configuration", api.server.getServerInfo())


class BadInputTest(ClientTestCase):
    def assertBadParameter(self, parameter: str, call: Any, *args: Any) -> None:
        err = self.assertApiError("JETRECV_ERR_BAD_PARAMETER", 400, call, *args)
        self.assertEqual(err.parameter, parameter)
        self.assertIn("'%s'" % parameter, err.message)

    def test_bad_parameters_name_the_field(self) -> None:
        api = self.login(SUPERUSER, elevate=True)
        self.assertBadParameter("clientPublicKey", api.recv.addAuthorizedClientAsync, 42)
        self.assertBadParameter("clientPublicKey", api.recv.removeAuthorizedClientAsync, {"clientPublicKey": None})
        self.assertBadParameter("onlyAuthorizedClientsAllowed", api.recv.allowOnlyAuthorizedClientsAsync, "yes")
        self.assertBadParameter("requestId", api.server.getRequestStatus, "seven")
        request = api.recv.getSourcesAsync()
        self.assertBadParameter("timeoutMs", api.server.getRequestResult, request, -1)
        self.assertBadParameter("timeoutMs", api.server.getRequestResult, request, 300_001)
        self.assertBadParameter("bogus", api.call, "recv.getSourcesAsync", {"bogus": 1})
        self.assertBadParameter("incomingRateLimit", api.server.updateBandwidthLimits, -1)
        self.assertBadParameter("incomingRateLimitPerSource", api.server.updateBandwidthLimits, None, "20M")

    def test_a_malformed_key_and_an_unknown_method(self) -> None:
        api = self.login(SUPERUSER, elevate=True)
        err = self.assertApiError("JETRECV_ERR_BAD_KEY", 400, api.recv.addAuthorizedClientAsync, "not-a-key")
        self.assertIn("clientPublicKey", err.message)
        self.assertApiError("JETRECV_ERR_UNKNOWN_METHOD", 404, api.call, "recv.getSourceAsync")


class ConnectionTest(unittest.TestCase):
    def test_connection_refused_is_a_clear_typed_error(self) -> None:
        port = closed_port()
        api = JetRecv().api("127.0.0.1", port)
        with self.assertRaises(JetRecvConnectionError) as caught:
            api.server.getServerInfo()
        err = caught.exception
        self.assertIsInstance(err, JetRecvApiError)
        self.assertEqual((err.code, err.status), ("JETRECV_ERR_API_UNREACHABLE", 0))
        self.assertIn("http://127.0.0.1:%d" % port, err.message)
        self.assertIn("refused", err.message.lower())
        with self.assertRaises(JetRecvConnectionError):
            with api:
                pass

    def test_an_answer_that_is_not_the_api_is_a_bad_response(self) -> None:
        class NotTheApi(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = b"<html>proxy error</html>"
                self.send_response(502)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        server = http.server.HTTPServer(("127.0.0.1", 0), NotTheApi)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        api = JetRecv().api("127.0.0.1", server.server_address[1])
        with self.assertRaises(JetRecvApiError) as caught:
            api.server.getServerInfo()
        self.assertEqual((caught.exception.code, caught.exception.status), ("JETRECV_ERR_BAD_RESPONSE", 502))


@unittest.skipUnless(TLS_PORT, "no HTTPS daemon (JETRECV_TEST_TLS_PORT unset: openssl missing?)")
class TlsTest(unittest.TestCase):
    def test_https_with_the_servers_ca(self) -> None:
        api = JetRecv().api("127.0.0.1", TLS_PORT, tls=True, ca_file=TLS_CA)
        self.assertTrue(api.url.startswith("https://"))
        info: Dict[str, Any] = api.server.getServerInfo()
        self.assertGreaterEqual(info["certificateValidation"], 29)
        api.server.auth(USER, PASSWORD)
        self.assertIsInstance(api.wait(api.recv.getTransfersAsync()), list)
        api.disconnect()

    def test_an_untrusted_certificate_is_a_connection_error_unless_verify_is_off(self) -> None:
        with self.assertRaises(JetRecvConnectionError) as caught:
            JetRecv().api("127.0.0.1", TLS_PORT, tls=True).server.getServerInfo()
        self.assertIn("CERTIFICATE_VERIFY_FAILED", caught.exception.message)
        unverified = JetRecv().api("127.0.0.1", TLS_PORT, tls=True, verify=False)
        self.assertIs(unverified.server.getServerInfo()["authRequired"], True)

    def test_plain_http_to_an_https_server_fails_clearly(self) -> None:
        with self.assertRaises(JetRecvApiError) as caught:
            JetRecv().api("127.0.0.1", TLS_PORT).server.getServerInfo()
        self.assertIn(caught.exception.code, ("JETRECV_ERR_API_UNREACHABLE", "JETRECV_ERR_BAD_RESPONSE"))


if __name__ == "__main__":
    unittest.main()
