"""The top bar's unread-messages count, on every page a signed-in person sees."""

from functools import cache

from messaging import selectors


def messaging(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}

    # Templates call a callable they find in the context; cached, so the count is one query
    # however often the page uses it, and none on a page that does not. It runs when the top
    # bar renders, after the view: a conversation just opened no longer counts as unread.
    @cache
    def unread_total():
        return selectors.unread_total(user=user)

    return {"messaging_unread_total": unread_total}
