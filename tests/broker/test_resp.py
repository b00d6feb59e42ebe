"""The callback-driven Redis connection against a real redis-server."""

from __future__ import annotations

import asyncio
import socket

import hiredis
from redis.asyncio.connection import Connection

from earlgate.broker.resp import ConnectionGone, RespChannel
from redisproc import RedisServer


async def open_channel(server: RedisServer, **callbacks) -> RespChannel:
    connection = Connection(host="127.0.0.1", port=server.port, db=0, protocol=2)
    await connection.connect()
    return RespChannel.take_over(connection, **callbacks)


async def test_replies_come_back_in_command_order(redis_server: RedisServer) -> None:
    channel = await open_channel(redis_server)
    replies: list[object] = []
    for i in range(500):
        channel.send("SET", f"resp:{i}", i, on_reply=None)
        channel.send("INCR", f"resp:{i}", on_reply=replies.append)
    channel.send("GET", "resp:no-such-key", on_reply=replies.append)
    channel.send("INCR", "resp:text-is-not-a-number", on_reply=None)
    channel.send("SET", "resp:text-is-not-a-number", "x", on_reply=None)
    channel.send("INCR", "resp:text-is-not-a-number", on_reply=replies.append)
    done = asyncio.get_running_loop().create_future()
    channel.send("PING", on_reply=done.set_result)
    assert await asyncio.wait_for(done, 5) == b"PONG"
    assert replies[:500] == list(range(1, 501))
    assert replies[500] is None
    assert isinstance(replies[501], hiredis.ReplyError)  # an error reply is a value, not a crash
    channel.close()
    await asyncio.wait_for(channel.closed, 5)


async def test_pushes_on_a_subscription_connection(redis_server: RedisServer) -> None:
    pushes: list[object] = []
    sub = await open_channel(redis_server, on_push=pushes.append)
    pub = await open_channel(redis_server)
    sub.send("SUBSCRIBE", "resp:channel")
    while not pushes:
        await asyncio.sleep(0.01)
    receivers = asyncio.get_running_loop().create_future()
    pub.send("PUBLISH", "resp:channel", b"hello", on_reply=receivers.set_result)
    assert await asyncio.wait_for(receivers, 5) == 1
    while len(pushes) < 2:
        await asyncio.sleep(0.01)
    assert pushes == [[b"subscribe", b"resp:channel", 1], [b"message", b"resp:channel", b"hello"]]
    sub.close()
    pub.close()


async def test_unanswered_commands_are_told_the_connection_is_gone() -> None:
    # A server that accepts, reads nothing and closes: every waiting command hears of it.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        lost: list[BaseException | None] = []
        _, channel = await asyncio.get_running_loop().create_connection(
            lambda: RespChannel(on_lost=lost.append), "127.0.0.1", port
        )
        replies: list[object] = []
        channel.send("PING", on_reply=replies.append)
        channel.send("PING", on_reply=replies.append)
        accepted, _ = listener.accept()
        accepted.close()
        await asyncio.wait_for(channel.closed, 5)
    assert len(replies) == 2 and all(isinstance(r, ConnectionGone) for r in replies)
    assert len(lost) == 1
    late: list[object] = []
    channel.send("PING", on_reply=late.append)
    await asyncio.sleep(0)
    assert isinstance(late[0], ConnectionGone)


async def test_garbage_from_the_server_drops_the_connection() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        transport, channel = await asyncio.get_running_loop().create_connection(
            RespChannel, "127.0.0.1", port
        )
        accepted, _ = listener.accept()
        accepted.sendall(b"this is not RESP\r\n")
        await asyncio.wait_for(channel.closed, 5)
        accepted.close()
    assert transport.is_closing()
