"""Channel adapters (issue 9): thin shells between channel traffic and the engine host.

Each adapter turns what arrives (mail over SMTP or IMAP, messaging webhooks, portal cases) into
``submit`` and ``message`` commands through the host's one intake, acknowledging the sender only
once they are durable, and sends what agents write back out (SMTP, a messaging provider's HTTP
API). Outbound webhooks follow the log for integrators. Modules:

* :mod:`~unirouter.channels.mail`: reading inbound mail and writing replies (pure);
* :mod:`~unirouter.channels.index`: what the channels remember, folded from the log;
* :mod:`~unirouter.channels.intake`: mail and messages to items and messages (idempotent, threaded);
* :mod:`~unirouter.channels.smtp` and :mod:`~unirouter.channels.imap`: the mail intakes;
* :mod:`~unirouter.channels.messaging`: the Twilio-shaped and JSON webhooks, and portal cases;
* :mod:`~unirouter.channels.signing`: signatures of webhooks in and out;
* :mod:`~unirouter.channels.followers`: delivery from the log at least once, in order;
* :mod:`~unirouter.channels.runtime`: starting and stopping them inside ``unirouter serve``.
"""
