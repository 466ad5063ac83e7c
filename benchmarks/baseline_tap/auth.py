"""MindzPay authentication, as the template's OAuth2 option writes it."""

from __future__ import annotations

from typing import Any

from singer_sdk.authenticators import OAuthAuthenticator, SingletonMeta


# The SingletonMeta metaclass makes every stream reuse the same authenticator instance.
class MindzPayAuthenticator(OAuthAuthenticator, metaclass=SingletonMeta):
    """OAuth2 client-credentials authenticator for MindzPay."""

    @property
    def oauth_request_body(self) -> dict[str, Any]:
        """The token request body (client_credentials grant)."""
        return {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
        }
