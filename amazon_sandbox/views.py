"""The sandbox over HTTP: Seller Central's consent page, the feed document URLs, and Login with
Amazon and the SP-API for other processes (base URLs .../amazon-sandbox/lwa and .../sp)."""

from urllib.parse import quote, urlencode

from django import forms
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt

from amazon_sandbox import auth, control, feeds, router

SP_API_BASE = "https://sellingpartnerapi-na.amazon.com"


class ConsentForm(forms.Form):
    selling_partner_id = forms.RegexField(
        regex=r"^A[A-Z0-9]{9,20}$",
        label="Selling partner id",
        error_messages={"invalid": "Use A followed by 9 to 20 capital letters or digits."},
    )


def consent(request):
    """Seller Central's page where a seller authorizes an app (apps/authorize/consent)."""
    params = request.GET
    missing = [name for name in ("application_id", "state", "redirect_uri") if not params.get(name)]
    if missing:
        return HttpResponseBadRequest(
            f"Seller Central needs {', '.join(missing)} to show the consent page.",
            content_type="text/plain",
        )
    form = ConsentForm(
        request.POST or None, initial={"selling_partner_id": control.new_selling_partner_id()}
    )
    if request.method == "POST" and form.is_valid():
        return redirect(
            auth.consent_redirect(
                redirect_uri=params["redirect_uri"],
                state=params["state"],
                selling_partner_id=form.cleaned_data["selling_partner_id"],
                application_id=params["application_id"],
            )
        )
    return render(
        request,
        "amazon_sandbox/consent.html",
        {
            "form": form,
            "application_id": params["application_id"],
            "redirect_uri": params["redirect_uri"],
            "query": urlencode(
                {
                    k: params[k]
                    for k in ("application_id", "state", "redirect_uri", "version")
                    if k in params
                }
            ),
        },
    )


def _respond(answer):
    response = HttpResponse(answer.body, status=answer.status)
    for name, value in answer.headers.items():
        response[name] = value
    return response


@csrf_exempt
def document(request, document_id):
    url = f"{feeds.documents_base()}{document_id}/"
    return _respond(router.handle(request.method, url, request.headers, request.body))


@csrf_exempt
def lwa_token(request):
    return _respond(
        router.handle(
            request.method,
            f"https://{router.LWA_HOST}/auth/o2/token",
            request.headers,
            request.body,
        )
    )


@csrf_exempt
def sp_api(request, path):
    query = request.META.get("QUERY_STRING", "")
    # Django hands the path over decoded; each segment is encoded again for the router (so a SKU
    # with a space works over HTTP too; one with a slash only in-process).
    path = "/".join(quote(segment, safe="") for segment in path.split("/"))
    url = f"{SP_API_BASE}/{path}" + (f"?{query}" if query else "")
    return _respond(router.handle(request.method, url, request.headers, request.body))
