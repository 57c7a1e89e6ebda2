"""
Channels: the ways messages leave Cartback (`outbox` for development, SMTP and Twilio later).
"""
