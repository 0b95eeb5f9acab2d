//! Terminal setup and guaranteed restore (on return, on error and on panic).

use std::io::{Stdout, stdout};

use crossterm::event::{
    DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture,
    KeyboardEnhancementFlags, PopKeyboardEnhancementFlags, PushKeyboardEnhancementFlags,
};
use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
    supports_keyboard_enhancement,
};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

/// The terminal in full-screen mode; dropping it restores the terminal.
pub struct Screen {
    /// The ratatui terminal.
    pub terminal: Terminal<CrosstermBackend<Stdout>>,
    enhanced: bool,
}

fn restore(enhanced: bool) {
    let mut out = stdout();
    if enhanced {
        let _ = execute!(out, PopKeyboardEnhancementFlags);
    }
    let _ = execute!(
        out,
        DisableMouseCapture,
        DisableBracketedPaste,
        LeaveAlternateScreen,
        crossterm::cursor::Show
    );
    let _ = disable_raw_mode();
}

impl Screen {
    /// Enters raw mode and the alternate screen, enables bracketed paste, mouse
    /// capture and (where supported) unambiguous key reporting so Shift-Enter is
    /// distinguishable from Enter.
    pub fn enter() -> anyhow::Result<Screen> {
        enable_raw_mode()?;
        Screen::setup().inspect_err(|_| restore(false))
    }

    fn setup() -> anyhow::Result<Screen> {
        let mut out = stdout();
        execute!(
            out,
            EnterAlternateScreen,
            EnableBracketedPaste,
            EnableMouseCapture
        )?;
        let enhanced = supports_keyboard_enhancement().unwrap_or(false);
        if enhanced {
            execute!(
                out,
                PushKeyboardEnhancementFlags(KeyboardEnhancementFlags::DISAMBIGUATE_ESCAPE_CODES)
            )?;
        }
        // A panic must not leave the user's shell in raw mode.
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore(enhanced);
            previous(info);
        }));
        let terminal = Terminal::new(CrosstermBackend::new(out))?;
        Ok(Screen { terminal, enhanced })
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        restore(self.enhanced);
    }
}

/// Announces `text` the configured way. OSC 9 carries no control characters
/// (they would end the sequence early or drive the terminal).
pub fn notify(how: super::Notify, text: &str) {
    use std::io::Write;
    let clean: String = text.chars().filter(|c| !c.is_control()).take(200).collect();
    let seq = match how {
        super::Notify::Osc9 => format!("\x1b]9;{clean}\x07"),
        super::Notify::Bell => "\x07".to_string(),
        super::Notify::Off => return,
    };
    let mut out = stdout();
    let _ = out.write_all(seq.as_bytes());
    let _ = out.flush();
}
