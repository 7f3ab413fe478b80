"""Account pages: sign up, profile, becoming a seller. Log in/out and passwords are Django's,
the password reset request with Bazaar's limits."""

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts import selectors, services
from accounts.forms import EmailChangeForm, ProfileForm, SellerOnboardForm, SignupForm
from core.errors import DomainError, ValidationFailed
from core.forms import add_domain_errors
from core.http import client_ip, safe_next_url
from core.throttling import rate_limit_key, rate_limit_wait, wait_text


def _posted(request):
    # Not `request.POST or None`: an empty POST must still be validated (and show its errors).
    return request.POST if request.method == "POST" else None


def signup(request):
    next_url = safe_next_url(request, reverse("home"))
    if request.user.is_authenticated:
        return redirect(next_url)
    form = SignupForm(_posted(request))
    if request.method == "POST" and form.is_valid():
        try:
            user = services.user_signup(
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password1"],
                full_name=form.cleaned_data["full_name"],
            )
        except ValidationFailed as exc:
            add_domain_errors(form, exc, SignupForm.SERVICE_FIELD_MAP)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(
                request,
                f"Welcome to Bazaar! Your account is ready. We emailed a link to {user.email}: "
                "open it to confirm your address before you buy or sell.",
            )
            return redirect(next_url)
    return render(request, "registration/signup.html", {"form": form, "next": next_url})


@login_required
def account(request):
    form = ProfileForm(
        _posted(request),
        initial={"full_name": request.user.full_name, "time_zone": request.user.time_zone},
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.user_update(
                user=request.user,
                actor=request.user,
                full_name=form.cleaned_data["full_name"],
                time_zone=form.cleaned_data["time_zone"],
            )
        except ValidationFailed as exc:
            add_domain_errors(form, exc)
        else:
            messages.success(request, "Your profile was saved.")
            return redirect("account")
    return _account_page(request, form=form, email_form=EmailChangeForm())


def _account_page(request, *, form=None, email_form=None, status=200):
    if form is None:
        form = ProfileForm(
            initial={"full_name": request.user.full_name, "time_zone": request.user.time_zone}
        )
    context = {
        "form": form,
        "email_form": email_form or EmailChangeForm(),
        "email_pending": selectors.email_pending(request.user),
    }
    return render(request, "accounts/account.html", context, status=status)


# --- Confirming the email address (allauth's links, Bazaar's pages) ---------------------------

TOO_MANY_LINKS = (
    "You asked for a link a moment ago. Check your inbox (and spam folder), or try again in {wait}."
)


@login_required
@require_POST
def email_change(request):
    form = EmailChangeForm(request.POST)
    if form.is_valid():
        try:
            services.email_change_request(user=request.user, email=form.cleaned_data["email"])
        except ValidationFailed as exc:
            add_domain_errors(form, exc)
        else:
            messages.success(
                request,
                f"We emailed a link to {form.cleaned_data['email'].lower()}. Your address "
                f"stays {request.user.email} until you open it.",
            )
            return redirect("account")
    return _account_page(request, email_form=form, status=400)


@login_required
@require_POST
def email_resend(request):
    wait = rate_limit_wait(request, "email_confirmation")
    if wait:
        messages.error(request, TOO_MANY_LINKS.format(wait=wait_text(wait)))
    else:
        sent_to = services.email_confirmation_resend(user=request.user)
        if sent_to:
            messages.success(request, f"We sent a new link to {sent_to}.")
        else:
            messages.info(request, "Your email address is already confirmed.")
    return redirect(safe_next_url(request, reverse("account")))


def email_confirm(request, key):
    """The link from the email. GET shows a button (mail scanners that follow links do not
    confirm anything); its POST confirms the address, signed in or not."""
    if request.method == "POST":
        try:
            user = services.email_confirm(key=key, request=request)
        except ValidationFailed as exc:
            return _email_link_bad(request, exc.message)
        messages.success(request, f"Thank you: {user.email} is confirmed.")
        return redirect("account" if request.user.is_authenticated else "login")
    email = selectors.email_confirmation_address(key)
    if email is None:
        return _email_link_bad(request, services.EMAIL_LINK_INVALID)
    return render(request, "accounts/email_confirm.html", {"email": email})


def _email_link_bad(request, message):
    return render(request, "accounts/email_confirm_bad.html", {"message": message}, status=400)


@login_required
def seller_onboard(request):
    if request.user.is_seller:
        messages.info(request, "You are already a seller.")
        return redirect("seller-dashboard")
    form = SellerOnboardForm(_posted(request), initial={"display_name": request.user.full_name})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.seller_onboard(
                user=request.user,
                display_name=data["display_name"],
                store_name=data["store_name"],
                country=data["country"],
                default_currency=data["default_currency"],
                bio=data["bio"],
            )
        except ValidationFailed as exc:
            # The store's name is checked by store_create, which calls it "name".
            add_domain_errors(form, exc, {"name": "store_name"})
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, "Your store is open. Add your first listing.")
            return redirect("seller-dashboard")
    return render(request, "accounts/seller_onboard.html", {"form": form})


class PasswordResetView(auth_views.PasswordResetView):
    """Django's reset request, limited per address asked about and per client address.

    Over the address's limit the answer is the usual "if an account uses that address, we sent
    a link" without sending one, so nobody learns whether the address has an account or how
    often it was asked about. Over the client's limit (someone trying many addresses) the page
    says so: that reveals nothing about any account.
    """

    TOO_MANY_FROM_HERE = (
        "Too many password reset requests from your network. Try again in {wait}. If you "
        "already asked, the email may take a few minutes to arrive; check your spam folder."
    )

    def form_valid(self, form):
        wait = rate_limit_wait(
            self.request, "password_reset_ip", key=f"ip:{client_ip(self.request)}"
        )
        if wait:
            form.add_error(None, self.TOO_MANY_FROM_HERE.format(wait=wait_text(wait)))
            return self.render_to_response(self.get_context_data(form=form), status=429)
        email = form.cleaned_data["email"]
        if rate_limit_wait(self.request, "password_reset_email", key=rate_limit_key(email)):
            return HttpResponseRedirect(self.get_success_url())
        return super().form_valid(form)


# --- Saved shipping addresses -----------------------------------------------------------------


@login_required
def shipping_addresses(request):
    """The buyer's saved addresses: which one checkout offers first, and forgetting one. New
    ones are saved at checkout (escrow's checkout step). Each person sees only their own."""
    return render(
        request,
        "accounts/shipping_addresses.html",
        {"addresses": selectors.shipping_addresses_for(request.user)},
    )


@login_required
@require_POST
def shipping_address_default(request, pk):
    address = _own_address(request, pk)
    services.shipping_address_set_default(user=request.user, address_id=address.pk)
    messages.success(request, "Checkout will offer this address first.")
    return redirect("shipping-addresses")


@login_required
@require_POST
def shipping_address_delete(request, pk):
    address = _own_address(request, pk)
    services.shipping_address_delete(user=request.user, address_id=address.pk)
    messages.success(request, "The address was removed. Orders keep the address they had.")
    return redirect("shipping-addresses")


def _own_address(request, pk):
    """One of the person's saved addresses; 404 for anyone else's (nobody learns it exists)."""
    address = selectors.shipping_address_get(user=request.user, pk=pk)
    if address is None:
        raise Http404("You have no saved address with this id.")
    return address
