"""Helpers other apps' tests may use to act as a signed-in person."""

from rest_framework.test import APIClient

from accounts.services import api_token_issue


def api_token_for(user):
    """A fresh API token for `user`, as POST /api/v1/auth/token/ hands one to the app."""
    _, key = api_token_issue(user=user)
    return key


def sign_in_api_client(client, user):
    """`client` signed in as `user`'s app: it sends a fresh API token with every request."""
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_for(user)}")
    return client


def api_client_for(user):
    return sign_in_api_client(APIClient(), user)
