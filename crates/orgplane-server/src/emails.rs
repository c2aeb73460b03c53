//! The texts of the emails orgplane sends. Plain text, short, with the one link that matters.

use orgplane_domain::outbox::Email;

pub fn password_reset(to: &str, link: &str) -> Email {
    Email {
        to: to.into(),
        subject: "Reset your orgplane password".into(),
        text: format!(
            "Someone asked to reset the password of this account.\n\n\
             Set a new password here (the link works once, for one hour):\n{link}\n\n\
             If it was not you, ignore this message: your password has not changed.\n"
        ),
    }
}

pub fn invitation(to: &str, organization: &str, link: &str) -> Email {
    Email {
        to: to.into(),
        subject: format!("You are invited to {organization} on orgplane"),
        text: format!(
            "You have been added to the organization {organization}.\n\n\
             Choose your password to sign in (the link works once, for seven days):\n{link}\n"
        ),
    }
}

pub fn added_to_organization(to: &str, organization: &str, console: &str) -> Email {
    Email {
        to: to.into(),
        subject: format!("You were added to {organization} on orgplane"),
        text: format!(
            "You have been added to the organization {organization}.\n\n\
             Sign in with your existing password to switch to it: {console}\n\n\
             If you did not expect this, tell the organization's administrators.\n"
        ),
    }
}

pub fn password_changed(to: &str) -> Email {
    Email {
        to: to.into(),
        subject: "Your orgplane password was changed".into(),
        text: "The password of this account was just changed and its other sessions were ended.\n\n\
               If it was not you, reset your password at once and tell your administrators.\n"
            .into(),
    }
}
