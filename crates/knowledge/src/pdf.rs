//! A PDF's text, through `pdf-extract`. Its parser can panic on a malformed file; the panic
//! is caught and reported as a failure. Encrypted files and files without a text layer
//! (scans) give an error or no text.

/// Why a PDF gave no text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PdfError {
    /// Not a PDF at all (no `%PDF-` header).
    NotPdf,
    /// The parser failed or gave up on it (damaged, encrypted, unsupported).
    Unreadable,
}

impl PdfError {
    /// A short reason for a source's status.
    pub fn reason(self) -> &'static str {
        match self {
            PdfError::NotPdf => "not_pdf",
            PdfError::Unreadable => "unreadable_pdf",
        }
    }
}

/// The text of a PDF's pages, pages separated by blank lines, whitespace normalised.
pub fn pdf_text(bytes: &[u8]) -> Result<String, PdfError> {
    let head = &bytes[..bytes.len().min(1024)];
    if !head.windows(5).any(|w| w == b"%PDF-") {
        return Err(PdfError::NotPdf);
    }
    let pages = std::panic::catch_unwind(|| pdf_extract::extract_text_from_mem_by_pages(bytes))
        .map_err(|_| PdfError::Unreadable)?
        .map_err(|_| PdfError::Unreadable)?;
    Ok(crate::text::normalize(&pages.join("\n\n")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_a_pdf_and_garbage_fail_without_panicking() {
        assert_eq!(pdf_text(b"hello"), Err(PdfError::NotPdf));
        assert_eq!(pdf_text(b"%PDF-1.4\n garbage"), Err(PdfError::Unreadable));
        assert_eq!(pdf_text(b""), Err(PdfError::NotPdf));
    }

    #[test]
    fn reads_a_minimal_pdf() {
        let pdf = crate::pdf::testing::one_page_pdf("Gift cards never expire.");
        let t = pdf_text(&pdf).unwrap();
        assert!(t.contains("Gift cards never expire."), "{t:?}");
    }
}

/// PDFs for tests (also used by the API's tests).
pub mod testing {
    /// A valid one-page PDF showing `text` in Helvetica (ASCII, no parentheses or
    /// backslashes), one line per `\n`.
    pub fn one_page_pdf(text: &str) -> Vec<u8> {
        let mut content = String::from("BT /F1 12 Tf 72 720 Td 14 TL\n");
        for line in text.lines() {
            content.push_str(&format!("({line}) Tj T*\n"));
        }
        content.push_str("ET\n");
        let objects = [
            "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
            "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R \
             /Resources << /Font << /F1 5 0 R >> >> >>"
                .to_owned(),
            format!(
                "<< /Length {} >>\nstream\n{content}endstream",
                content.len()
            ),
            "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
                .to_owned(),
        ];
        let mut out = b"%PDF-1.4\n".to_vec();
        let mut offsets = Vec::new();
        for (i, o) in objects.iter().enumerate() {
            offsets.push(out.len());
            out.extend_from_slice(format!("{} 0 obj\n{o}\nendobj\n", i + 1).as_bytes());
        }
        let xref = out.len();
        out.extend_from_slice(
            format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
        );
        for off in offsets {
            out.extend_from_slice(format!("{off:010} 00000 n \n").as_bytes());
        }
        out.extend_from_slice(
            format!(
                "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
                objects.len() + 1
            )
            .as_bytes(),
        );
        out
    }
}
