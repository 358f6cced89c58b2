"""``gisgrid accounts …``: create, list, disable, enable and reset-password, over
:mod:`gisgrid.auth.accounts`, the service the administrators' HTTP routes call too.

Run by whoever holds the server: the command line manages every account (the whole city) and
is on record under the operating-system login. A password is read from the terminal, twice,
or as one line on standard input with ``--password-stdin``; never from an argument, which
other users of the machine could read.
"""

from __future__ import annotations

import getpass
import sys
from datetime import UTC, datetime

import typer

from gisgrid.core.commandline import command_sessions, fail
from gisgrid.core.errors import GisgridError, InvalidInput

accounts_app = typer.Typer(help="账号 / accounts: the first administrator, staff accounts, disabling and "
                           "password resets", no_args_is_help=True)

PASSWORD_STDIN = typer.Option(False, "--password-stdin", help="从标准输入读一行密码 / read the password as one line "
                              "from standard input (for scripts)")


def _password(from_stdin: bool) -> str:
    """The new password: one line of standard input, or typed twice at the terminal."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("密码 / password: ")
        if getpass.getpass("再输一次 / again: ") != password:
            raise InvalidInput("两次输入的密码不同 / the two passwords differ", where="password")
    if not password:
        raise InvalidInput("密码为空 / the password is empty", where="password")
    return password


def _change(call, *args, **kwargs) -> dict:
    """One change in one transaction, on record under the login name."""
    with command_sessions().begin() as session:
        return call(session, *args, within=None, actor=getpass.getuser(), now=datetime.now(UTC), **kwargs)


def _scope(account: dict) -> str:
    if account["role"] == "grid_worker":
        return ",".join(account["grids"] or []) or "—"
    return account["community"] or account["subdistrict"] or "全市 / city-wide"


def _line(account: dict) -> str:
    from gisgrid.core.enums import Role

    staff = f"{account['staff_name']} {account['staff_phone']}" if account["staff_name"] else "—"
    last = account["last_sign_in"].astimezone().strftime("%Y-%m-%d %H:%M") if account["last_sign_in"] else "—"
    return (f"{account['username']:<16} {Role(account['role']).label_zh + '/' + account['role']:<26} "
            f"{_scope(account):<20} {staff:<22} {'是' if account['active'] else '否':<4} "
            f"{'是' if account['locked'] else '否':<4} {last}")


@accounts_app.command("create")
def create(
    username: str = typer.Argument(..., help="用户名 / the username"),
    role: str = typer.Option(..., "--role", help="admin | community_manager | grid_worker | viewer | auditor "
                             "(或中文：街道管理员、社区管理员、网格员、只读用户、审计员)"),
    subdistrict: str | None = typer.Option(None, "--subdistrict", help="街道 / the sub-district (9 digits) an "
                                           "administrator, viewer or auditor is bound to; none: the whole city"),
    grid: str | None = typer.Option(None, "--grid", help="网格 / a community manager's L1 code, or the grid whose "
                                    "lead a grid worker is"),
    staff: str | None = typer.Option(None, "--staff", help="工作人员电话 / the staff member (by phone) the account is"),
    name: str | None = typer.Option(None, "--name", help="显示名 / display name (default: the staff name or username)"),
    password_stdin: bool = PASSWORD_STDIN,
) -> None:
    """新建账号 / create an account (the first administrator: --role admin)."""
    from gisgrid.auth.accounts import create as create_account
    from gisgrid.auth.accounts import parse_role

    try:
        chosen = parse_role(role)
        password = _password(password_stdin)
        made = _change(create_account, username=username, role=chosen, password=password, subdistrict=subdistrict,
                       grid=grid, staff_phone=staff, display_name=name)
    except GisgridError as exc:
        fail(exc, "未创建账号 / no account was created")
    typer.echo(f"已创建账号 / account created: {made['username']} ({chosen.label_zh} / {chosen.value}, "
               f"{_scope(made)})")


@accounts_app.command("list")
def list_accounts() -> None:
    """账号列表 / every account: role, scope, staff, active, locked, last sign-in."""
    from gisgrid.auth.accounts import accounts
    from gisgrid.core.paging import Page

    try:
        with command_sessions()() as session:
            found = accounts(session, within=None, page=Page(limit=1_000_000, offset=0), now=datetime.now(UTC))
    except GisgridError as exc:
        fail(exc)
    typer.echo(f"{'用户名/username':<16} {'角色/role':<26} {'范围/scope':<20} {'工作人员/staff':<22} "
               f"{'启用':<4} {'锁定':<4} 最近登录/last sign-in")
    for account in found["items"]:
        typer.echo(_line(account))
    typer.echo(f"共 {found['numberMatched']} 个账号 / {found['numberMatched']} account(s)")


@accounts_app.command("disable")
def disable(username: str = typer.Argument(..., help="用户名 / the username")) -> None:
    """停用账号 / disable an account: it cannot sign in, its sessions end (its API keys open nothing
    while it is disabled)."""
    from gisgrid.auth.accounts import disable as disable_account

    try:
        _change(disable_account, username)
    except GisgridError as exc:
        fail(exc)
    typer.echo(f"已停用，会话已结束 / {username} disabled, its sessions ended")


@accounts_app.command("enable")
def enable(username: str = typer.Argument(..., help="用户名 / the username")) -> None:
    """启用账号 / enable an account again (a lockout is lifted too)."""
    from gisgrid.auth.accounts import enable as enable_account

    try:
        _change(enable_account, username)
    except GisgridError as exc:
        fail(exc)
    typer.echo(f"已启用 / {username} enabled")


@accounts_app.command("reset-password")
def reset_password(username: str = typer.Argument(..., help="用户名 / the username"),
                   password_stdin: bool = PASSWORD_STDIN) -> None:
    """重设密码 / set a new password; every session of the account ends."""
    from gisgrid.auth.accounts import reset_password as reset

    try:
        _change(reset, username, _password(password_stdin))
    except GisgridError as exc:
        fail(exc, "密码未修改 / the password was not changed")
    typer.echo(f"密码已重设，会话已结束 / {username}: password reset, its sessions ended")
