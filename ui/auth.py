"""Who is signed in: the sign-in gate of every page, sign-out, and optional single sign-on (st.login).

With no account in the store (and the app on loopback, which app.py enforces) the studio runs as
before, as one local user. Once an account exists, every visitor signs in; the rules of what each
role may do are checked in fashion_core (``fashion_core.access``), this only says who is acting.
"""

from __future__ import annotations

import streamlit as st

from fashion_core.access import ANONYMOUS, LOCAL, Identity, set_resolver
from fashion_core.accounts import accounts_on, sign_in, sso_identity
from fashion_core.errors import FashionCoreError
from ui.services import get_store
from ui.text import plain

K_IDENTITY = "auth_identity"  # (name, role, via) of the signed-in person


def sso_configured() -> bool:
    """Whether ``.streamlit/secrets.toml`` has an ``[auth]`` section (OpenID Connect through st.login)."""
    try:
        return "auth" in st.secrets
    except (FileNotFoundError, KeyError, OSError):
        return False
    except Exception:  # noqa: BLE001 - Streamlit raises its own error for a missing or bad secrets file
        return False


def current_identity() -> Identity:
    """The signed-in identity; ``LOCAL`` with no accounts; ``ANONYMOUS`` before signing in."""
    saved = st.session_state.get(K_IDENTITY)
    if saved:
        return Identity(*saved)
    if not accounts_on(get_store()) and not sso_configured():
        return LOCAL
    sso = _sso_identity()
    return sso if sso is not None else ANONYMOUS


def _sso_identity() -> Identity | None:
    """The account of a person signed in through the OIDC provider (matched by e-mail), or None."""
    if not sso_configured():
        return None
    user = getattr(st, "user", None)
    if user is None or not getattr(user, "is_logged_in", False):
        return None
    identity = sso_identity(get_store(), user.get("email"))
    if identity is not None:
        st.session_state[K_IDENTITY] = (identity.name, identity.role, identity.via)
    return identity


def resolve() -> Identity:
    """The acting identity for fashion_core's checks: this browser session's, ``LOCAL`` for server work.

    Installed with ``fashion_core.access.set_resolver``; a thread without a browser session (a
    download worker) is the server's own work, started by a page that checked the role first.
    """
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    if get_script_run_ctx(suppress_warning=True) is None:
        return LOCAL
    return current_identity()


def require_sign_in() -> Identity:
    """The current identity; before sign-in, show only the sign-in form and stop."""
    set_resolver(resolve)
    identity = current_identity()
    if identity.role is not None:
        return identity
    sign_in_form()
    st.stop()


def sign_in_form() -> None:
    st.title("Fashion Attribute Studio")
    st.subheader("Sign in")
    with st.form("auth_sign_in"):
        name = st.text_input("User name", key="auth_name")
        password = st.text_input("Password", type="password", key="auth_password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        try:
            identity = sign_in(get_store(), name, password)
        except FashionCoreError as exc:
            st.error(plain(exc))
        else:
            st.session_state[K_IDENTITY] = (identity.name, identity.role, identity.via)
            st.rerun()
    if sso_configured():
        if getattr(st.user, "is_logged_in", False):
            st.warning(f"{plain(st.user.get('email'))} has no account here; ask an admin to add it.")
        st.button("Sign in with single sign-on", on_click=st.login, key="auth_sso")


def sign_out() -> None:
    via = (st.session_state.get(K_IDENTITY) or (None, None, None))[2]
    for key in list(st.session_state):
        del st.session_state[key]
    if via == "sso":
        st.logout()


def sidebar_box() -> None:
    """Who is signed in, and a sign-out button (nothing when the studio runs as one local user)."""
    identity = current_identity()
    if identity == LOCAL:
        st.caption(f"Signed in as {plain(identity.name)} (local user, no accounts)")
        return
    st.caption(f"Signed in as {plain(identity.name)} ({identity.role})")
    st.button("Sign out", key="auth_sign_out", on_click=sign_out, icon=":material/logout:")
