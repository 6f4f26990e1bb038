BoutputJ$fcIΩÄV∏ΩÙÚ
=˘C>®QLæz†.>RõD>	çæ"p–=