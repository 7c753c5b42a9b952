//! Channels in plain words.

use baton_proto::v1::Channel;

/// The channel's short name for facts and evidence ("chat", "voice"); empty when unset.
pub fn channel_name(channel: Channel) -> &'static str {
    match channel {
        Channel::Unspecified => "",
        Channel::Voice => "voice",
        Channel::Chat => "chat",
        Channel::Email => "e-mail",
        Channel::Sms => "SMS",
        Channel::Messaging => "messaging",
        Channel::Social => "social media",
        Channel::Video => "video",
        Channel::Web => "web",
        Channel::App => "app",
        Channel::InPerson => "in-person",
    }
}

/// How the channel reads after "we spoke" ("on chat", "on the phone"); empty when unset.
pub fn spoke_on(channel: Channel) -> &'static str {
    match channel {
        Channel::Unspecified => "",
        Channel::Voice => "on the phone",
        Channel::Chat => "on chat",
        Channel::Email => "by e-mail",
        Channel::Sms => "by text message",
        Channel::Messaging => "on messaging",
        Channel::Social => "on social media",
        Channel::Video => "on a video call",
        Channel::Web => "on our website",
        Channel::App => "in our app",
        Channel::InPerson => "in person",
    }
}
