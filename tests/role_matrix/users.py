from . import ADMIN, Page


def a_user():
    from django.contrib.auth.models import User

    return User.objects.get_or_create(username="matrix-subject")[0].pk


USER = (("pk", a_user),)

PAGES = {
    "accounts:users": Page(allowed=ADMIN),
    "accounts:user_add": Page(allowed=ADMIN),
    "accounts:user_edit": Page(allowed=ADMIN, kwargs=USER),
    "accounts:user_deactivate": Page(method="post", allowed=ADMIN, kwargs=USER),
    "accounts:user_reactivate": Page(method="post", allowed=ADMIN, kwargs=USER),
    "accounts:user_link": Page(method="post", allowed=ADMIN, kwargs=USER),
    # The invitee is not signed in: the link's token is what authorises them.
    "accounts:set_password": Page(public=True, kwargs=(("uidb64", "MQ"), ("token", "x-y"))),
}
