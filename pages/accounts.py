"""Accounts: the users and their roles (admins change them), API tokens, and the audit list."""

from __future__ import annotations

import streamlit as st

from fashion_core.access import ROLES, acting
from fashion_core.accounts import add_user, audit_list, list_users, remove_user, set_role
from fashion_core.errors import FashionCoreError
from ui.page import PageContext, run_page
from ui.text import plain


def _users(ctx: PageContext) -> None:
    users = list_users(ctx.store)
    if not users:
        st.info("No accounts: the studio runs as one local user on this machine. Add the first admin"
                " here or with `fashion-studio users add NAME --role admin`.")
    else:
        st.dataframe([{"user": u.name, "role": u.role, "password": u.password_hash is not None,
                       "created": u.created_at} for u in users], hide_index=True, key="accounts_users")
    if not acting().can("manage_users"):
        st.caption("Only an admin can add users or change roles.")
        return
    with st.form("accounts_add", clear_on_submit=True):
        cols = st.columns(3)
        name = cols[0].text_input("User name", key="accounts_new_name")
        role = cols[1].selectbox("Role", ROLES, key="accounts_new_role")
        password = cols[2].text_input("Password", type="password", key="accounts_new_password")
        if st.form_submit_button("Add user"):
            _do(lambda: add_user(ctx.store, name.strip(), role, password), f"Added {name.strip()} ({role}).")
    if users:
        cols = st.columns(3)
        who = cols[0].selectbox("User", [u.name for u in users], key="accounts_pick")
        role = cols[1].selectbox("New role", ROLES, key="accounts_role")
        if cols[2].button("Set role", key="accounts_set_role"):
            _do(lambda: set_role(ctx.store, who, role), f"{who} is now {role}.")
        if cols[2].button("Remove user", key="accounts_remove"):
            _do(lambda: remove_user(ctx.store, who), f"Removed {who}.")


def _do(action, message: str) -> None:
    try:
        action()
    except FashionCoreError as exc:
        st.error(plain(exc))
        return
    st.success(plain(message))  # user names are data: shown as text


def main(ctx: PageContext) -> None:
    st.subheader("Users and roles")
    st.caption("viewer: browse, charts, predict, evaluate · annotator: + relabel, review · maintainer: + maps,"
               " train, download, import, export, delete · admin: + accounts")
    _users(ctx)
    st.subheader("Audit list")
    st.dataframe(audit_list(ctx.store, 500), hide_index=True, key="accounts_audit")


run_page(main, title="Accounts", caption="Who may do what, and who did what.", needs_dataset=False,
         action="audit")
